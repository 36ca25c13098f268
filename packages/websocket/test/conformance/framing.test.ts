/**
 * Conformance, Autobahn TestSuite sections 1 (framing), 2 (ping/pong), 3 (reserved bits) and
 * 4 (opcodes), written from the case descriptions, over real sockets against the echo server.
 */
import { describe } from 'node:test';
import { useEchoServer, wsCase } from './harness.js';
import { encodeFrame, Op, type RawClient } from './raw-client.js';

const echo = useEchoServer();

describe('1 framing: text and binary messages of every length class', () => {
  const lengths = [0, 125, 126, 127, 128, 65535, 65536] as const;
  for (const [section, opcode, fill] of [['1.1', Op.text, 0x2a], ['1.2', Op.binary, 0xfe]] as const) {
    const kind = opcode === Op.text ? 'text' : 'binary';
    lengths.forEach((len, i) => {
      wsCase(echo, `${section}.${i + 1}`, `${kind} message of ${len} bytes is echoed`, async (c) => {
        const payload = Buffer.alloc(len, fill);
        c.send(opcode, payload);
        await c.expectMessage(opcode, payload);
        await c.closeCleanly();
      });
    });
    wsCase(echo, `${section}.8`, `${kind} message of 65535 bytes sent in chops of 997 bytes is echoed`, async (c) => {
      const payload = Buffer.alloc(65535, fill);
      await c.writeChopped(encodeFrame(opcode, payload), 997);
      await c.expectMessage(opcode, payload);
      await c.closeCleanly();
    });
  }
});

describe('2 ping/pong', () => {
  wsCase(echo, '2.1', 'ping without payload gets a pong without payload', async (c) => {
    c.send(Op.ping);
    await c.expectPong();
    await c.closeCleanly();
  });
  wsCase(echo, '2.2', 'ping with a small text payload gets the same pong', async (c) => {
    c.send(Op.ping, 'Hello, world!');
    await c.expectPong('Hello, world!');
    await c.closeCleanly();
  });
  wsCase(echo, '2.3', 'ping with a small binary payload gets the same pong', async (c) => {
    const p = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
    c.send(Op.ping, p);
    await c.expectPong(p);
    await c.closeCleanly();
  });
  wsCase(echo, '2.4', 'ping with 125 bytes of payload gets the same pong', async (c) => {
    const p = Buffer.alloc(125, 0xfe);
    c.send(Op.ping, p);
    await c.expectPong(p);
    await c.closeCleanly();
  });
  wsCase(echo, '2.5', 'ping with 126 bytes of payload fails the connection (1002)', async (c) => {
    c.send(Op.ping, Buffer.alloc(126, 0xfe));
    await c.expectFail(1002);
  });
  wsCase(echo, '2.6', 'ping with 125 bytes sent in chops of 1 byte gets the same pong', async (c) => {
    const p = Buffer.alloc(125, 0xfe);
    await c.writeChopped(encodeFrame(Op.ping, p), 1);
    await c.expectPong(p);
    await c.closeCleanly();
  });
  wsCase(echo, '2.7', 'an unsolicited pong without payload is ignored', async (c) => {
    c.send(Op.pong);
    await c.expectNothingPending();
    await c.closeCleanly();
  });
  wsCase(echo, '2.8', 'an unsolicited pong with payload is ignored', async (c) => {
    c.send(Op.pong, 'unsolicited pong payload');
    await c.expectNothingPending();
    await c.closeCleanly();
  });
  wsCase(echo, '2.9', 'an unsolicited pong then a ping: only the ping is answered', async (c) => {
    c.send(Op.pong, 'unsolicited pong payload');
    c.send(Op.ping, 'ping payload');
    await c.expectPong('ping payload');
    await c.expectNothingPending();
    await c.closeCleanly();
  });
  const tenPings = async (c: RawClient, chop: number | undefined): Promise<void> => {
    const frames = Array.from({ length: 10 }, (_, i) => encodeFrame(Op.ping, `payload-${i}`));
    if (chop === undefined) c.write(Buffer.concat(frames));
    else await c.writeChopped(Buffer.concat(frames), chop);
    for (let i = 0; i < 10; i++) await c.expectPong(`payload-${i}`);
    await c.closeCleanly();
  };
  wsCase(echo, '2.10', 'ten pings in one chop get ten pongs in order', (c) => tenPings(c, undefined));
  wsCase(echo, '2.11', 'ten pings sent in chops of 1 byte get ten pongs in order', (c) => tenPings(c, 1));
});

describe('3 reserved bits (no extension negotiated: any RSV bit fails with 1002)', () => {
  wsCase(echo, '3.1', 'small text message with RSV = 1', async (c) => {
    c.send(Op.text, 'Hello, world!', { rsv: 1 });
    await c.expectFail(1002);
  });
  wsCase(echo, '3.2', 'text, then text with RSV = 2, then ping (one chop): echo, then fail, no pong', async (c) => {
    c.write(Buffer.concat([encodeFrame(Op.text, 'Hello, world!'), encodeFrame(Op.text, 'Hello, world!', { rsv: 2 }),
      encodeFrame(Op.ping, 'Hello, world!')]));
    await c.expectMessage(Op.text, 'Hello, world!');
    await c.expectFail(1002);
  });
  wsCase(echo, '3.3', 'text, then text with RSV = 3, then ping (frame-wise): echo, then fail, no pong', async (c) => {
    c.send(Op.text, 'Hello, world!');
    await c.expectMessage(Op.text, 'Hello, world!');
    c.send(Op.text, 'Hello, world!', { rsv: 3 });
    c.send(Op.ping, 'Hello, world!');
    await c.expectFail(1002);
  });
  wsCase(echo, '3.4', 'text, then text with RSV = 4, then ping (octet-wise): echo, then fail, no pong', async (c) => {
    const bytes = Buffer.concat([encodeFrame(Op.text, 'Hello, world!'), encodeFrame(Op.text, 'Hello, world!', { rsv: 4 }),
      encodeFrame(Op.ping, 'Hello, world!')]);
    await c.writeChopped(bytes, 1);
    await c.expectMessage(Op.text, 'Hello, world!');
    await c.expectFail(1002);
  });
  wsCase(echo, '3.5', 'binary message with RSV = 5', async (c) => {
    c.send(Op.binary, Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]), { rsv: 5 });
    await c.expectFail(1002);
  });
  wsCase(echo, '3.6', 'ping with RSV = 6', async (c) => {
    c.send(Op.ping, 'Hello, world!', { rsv: 6 });
    await c.expectFail(1002);
  });
  wsCase(echo, '3.7', 'close with RSV = 7', async (c) => {
    c.write(encodeFrame(Op.close, Buffer.from([0x03, 0xe8]), { rsv: 7 }));
    await c.expectFail(1002);
  });
});

describe('4 opcodes (reserved opcodes fail with 1002)', () => {
  const cases = [
    ['4.1', [3, 4, 5, 6, 7], 'non-control'],
    ['4.2', [11, 12, 13, 14, 15], 'control'],
  ] as const;
  for (const [section, opcodes, kind] of cases) {
    wsCase(echo, `${section}.1`, `reserved ${kind} opcode ${opcodes[0]} without payload`, async (c) => {
      c.send(opcodes[0]);
      await c.expectFail(1002);
    });
    wsCase(echo, `${section}.2`, `reserved ${kind} opcode ${opcodes[1]} with payload`, async (c) => {
      c.send(opcodes[1], 'reserved opcode payload');
      await c.expectFail(1002);
    });
    for (const [j, opcode] of [[3, opcodes[2]], [4, opcodes[3]], [5, opcodes[4]]] as const) {
      wsCase(echo, `${section}.${j}`, `text, then reserved ${kind} opcode ${opcode}, then ping: echo, fail, no pong`, async (c) => {
        c.write(Buffer.concat([encodeFrame(Op.text, 'Hello, world!'), encodeFrame(opcode, j === 3 ? '' : 'reserved opcode payload'),
          encodeFrame(Op.ping, 'Hello, world!')]));
        await c.expectMessage(Op.text, 'Hello, world!');
        await c.expectFail(1002);
      });
    }
  }
});

describe('framing details beyond Autobahn', () => {
  wsCase(echo, 'F.1', 'an unmasked client frame fails the connection (1002)', async (c) => {
    c.send(Op.text, 'Hello', { mask: false });
    await c.expectFail(1002);
  });
  wsCase(echo, 'F.2', 'a 64-bit length with the most significant bit set fails (1002)', async (c) => {
    c.write(encodeFrame(Op.binary, Buffer.alloc(0), { lengthHigh: 0x80000000 }).subarray(0, 10));
    await c.expectFail(1002);
  });
  wsCase(echo, 'F.3', 'many small frames in one TCP write are each echoed in order', async (c) => {
    const msgs = Array.from({ length: 200 }, (_, i) => `message ${i}`);
    c.write(Buffer.concat(msgs.map((m) => encodeFrame(Op.text, m))));
    for (const m of msgs) await c.expectMessage(Op.text, m);
    await c.closeCleanly();
  });
  wsCase(echo, 'F.4', 'a fixed all-zero masking key works (mask is XOR, not a secret)', async (c) => {
    c.send(Op.binary, Buffer.from([1, 2, 3]), { maskKey: Buffer.alloc(4) });
    await c.expectMessage(Op.binary, Buffer.from([1, 2, 3]));
    await c.closeCleanly();
  });
});
