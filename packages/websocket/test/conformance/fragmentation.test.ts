/**
 * Conformance, Autobahn TestSuite section 5 (fragmentation), over real sockets against the
 * echo server. "One chop" = all frames in one TCP write, "frame-wise" = one write per frame,
 * "octet-wise" = one write per byte.
 */
import { describe } from 'node:test';
import { useEchoServer, wsCase } from './harness.js';
import { encodeFrame, Op, type RawClient } from './raw-client.js';

const echo = useEchoServer();

type Mode = 'chop' | 'frames' | 'octets';

/** Sends frames in the given mode. */
async function sendAll(c: RawClient, frames: Buffer[], mode: Mode): Promise<void> {
  if (mode === 'chop') c.write(Buffer.concat(frames));
  else if (mode === 'octets') await c.writeChopped(Buffer.concat(frames), 1);
  else for (const f of frames) await c.writeChopped(f, f.length);
}

describe('5 fragmentation', () => {
  wsCase(echo, '5.1', 'ping fragmented into 2 fragments fails (1002)', async (c) => {
    await sendAll(c, [encodeFrame(Op.ping, 'fragment1', { fin: false }), encodeFrame(Op.continuation, 'fragment2')], 'chop');
    await c.expectFail(1002);
  });
  wsCase(echo, '5.2', 'pong fragmented into 2 fragments fails (1002)', async (c) => {
    await sendAll(c, [encodeFrame(Op.pong, 'fragment1', { fin: false }), encodeFrame(Op.continuation, 'fragment2')], 'chop');
    await c.expectFail(1002);
  });

  const twoFragments = (): Buffer[] => [encodeFrame(Op.text, 'fragment1', { fin: false }), encodeFrame(Op.continuation, 'fragment2')];
  ([['5.3', 'chop'], ['5.4', 'frames'], ['5.5', 'octets']] as const).forEach(([id, mode]) => {
    wsCase(echo, id, `text in 2 fragments (${mode}) is echoed whole`, async (c) => {
      await sendAll(c, twoFragments(), mode);
      await c.expectMessage(Op.text, 'fragment1fragment2');
      await c.closeCleanly();
    });
  });

  ([['5.6', 'chop'], ['5.7', 'frames'], ['5.8', 'octets']] as const).forEach(([id, mode]) => {
    wsCase(echo, id, `text in 2 fragments with a ping in between (${mode}): pong first, then the echo`, async (c) => {
      const [a, b] = twoFragments();
      await sendAll(c, [a, encodeFrame(Op.ping, 'ping payload'), b], mode);
      await c.expectPong('ping payload');
      await c.expectMessage(Op.text, 'fragment1fragment2');
      await c.closeCleanly();
    });
  });

  const orphan = (fin: boolean): Buffer[] => [
    encodeFrame(Op.continuation, 'non-continuation payload', { fin }),
    encodeFrame(Op.text, 'Hello, world!'),
  ];
  ([['5.9', 'chop'], ['5.10', 'frames'], ['5.11', 'octets']] as const).forEach(([id, mode]) => {
    wsCase(echo, id, `continuation (FIN) with nothing to continue, then text (${mode}): fail, no echo`, async (c) => {
      await sendAll(c, orphan(true), mode);
      await c.expectFail(1002);
    });
  });
  ([['5.12', 'chop'], ['5.13', 'frames'], ['5.14', 'octets']] as const).forEach(([id, mode]) => {
    wsCase(echo, id, `continuation (no FIN) with nothing to continue, then text (${mode}): fail, no echo`, async (c) => {
      await sendAll(c, orphan(false), mode);
      await c.expectFail(1002);
    });
  });

  wsCase(echo, '5.15', 'text in 2 fragments, then a continuation with nothing to continue, then text: echo, then fail', async (c) => {
    await sendAll(c, [...twoFragments(), encodeFrame(Op.continuation, 'fragment3', { fin: false }), encodeFrame(Op.text, 'fragment4')], 'chop');
    await c.expectMessage(Op.text, 'fragment1fragment2');
    await c.expectFail(1002);
  });
  for (const [id, fin] of [['5.16', false], ['5.17', true]] as const) {
    wsCase(echo, id, `2x (continuation FIN=${fin} with nothing to continue, text fragment, continuation FIN): fail at once`, async (c) => {
      const round = [encodeFrame(Op.continuation, 'fragment1', { fin }), encodeFrame(Op.text, 'fragment2', { fin: false }),
        encodeFrame(Op.continuation, 'fragment3')];
      await sendAll(c, [...round, ...round], 'chop');
      await c.expectFail(1002);
    });
  }
  wsCase(echo, '5.18', 'text in 2 fragments where both frames have the text opcode fails (1002)', async (c) => {
    await sendAll(c, [encodeFrame(Op.text, 'fragment1', { fin: false }), encodeFrame(Op.text, 'fragment2')], 'chop');
    await c.expectFail(1002);
  });
  wsCase(echo, '5.18b', 'a binary frame inside a fragmented text message fails (1002)', async (c) => {
    await sendAll(c, [encodeFrame(Op.text, 'fragment1', { fin: false }), encodeFrame(Op.binary, 'fragment2')], 'chop');
    await c.expectFail(1002);
  });

  for (const [id, mode] of [['5.19', 'chop'], ['5.20', 'frames']] as const) {
    wsCase(echo, id, `text in 5 fragments with pings in between, waiting for each pong (${mode}): pongs, then the echo`, async (c) => {
      // Autobahn waits 1 s between frames; waiting for each pong proves the same without sleeping.
      const parts = ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5'];
      for (let i = 0; i < parts.length; i++) {
        const frame = encodeFrame(i === 0 ? Op.text : Op.continuation, parts[i], { fin: i === parts.length - 1 });
        const frames = i === parts.length - 1 ? [frame] : [frame, encodeFrame(Op.ping, `pongme ${i + 1}!`)];
        await sendAll(c, frames, mode);
        if (i < parts.length - 1) await c.expectPong(`pongme ${i + 1}!`);
      }
      await c.expectMessage(Op.text, parts.join(''));
      await c.closeCleanly();
    });
  }
});
