/**
 * The opening handshake's pure parts (src/ws/handshake.ts): accept key, request checks with the
 * status each refusal gets, subprotocol selection, and the responses' exact shape. Requests are
 * real `http.IncomingMessage` objects filled in as Node's parser would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { acceptKey, acceptResponse, checkUpgrade, errorResponse, selectProtocol } from '@strangers/websocket';

type Rules = Parameters<typeof checkUpgrade>[1];
const anyRules: Rules = { path: undefined, origins: undefined, protocols: [] };

function request(headers: Record<string, string | undefined>, opts: { method?: string; url?: string; version?: string } = {}): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = opts.method ?? 'GET';
  req.url = opts.url ?? '/';
  const [major, minor] = (opts.version ?? '1.1').split('.').map(Number);
  req.httpVersionMajor = major;
  req.httpVersionMinor = minor;
  req.httpVersion = opts.version ?? '1.1';
  const base: Record<string, string | undefined> = {
    host: '127.0.0.1',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-version': '13',
  };
  for (const [k, v] of Object.entries({ ...base, ...headers })) if (v !== undefined) req.headers[k] = v;
  return req;
}

const status = (req: IncomingMessage, rules: Rules = anyRules): number | 'ok' => {
  const r = checkUpgrade(req, rules);
  return r.ok ? 'ok' : r.status;
};

describe('acceptKey', () => {
  test('RFC 6455 1.3 example', () => {
    assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });
});

describe('checkUpgrade', () => {
  test('a valid request passes and returns the key', () => {
    const r = checkUpgrade(request({}), anyRules);
    assert.deepEqual(r, { ok: true, key: 'dGhlIHNhbXBsZSBub25jZQ==', protocol: '' });
  });
  test('header tokens are case-insensitive and Connection may list several', () => {
    assert.equal(status(request({ upgrade: 'WebSocket', connection: 'keep-alive, UPGRADE' })), 'ok');
  });
  test('1000 random 16-byte keys pass', () => {
    for (let i = 0; i < 1000; i++) assert.equal(status(request({ 'sec-websocket-key': randomBytes(16).toString('base64') })), 'ok');
  });
  test('keys that are not base64 of exactly 16 bytes: 400', () => {
    for (const key of [undefined, '', 'abc', randomBytes(15).toString('base64'), randomBytes(17).toString('base64'),
      'dGhlIHNhbXBsZSBub25jZQ', 'dGhlIHNhbXBsZSBub25jZR==', '!GhlIHNhbXBsZSBub25jZQ==', 'dGhlIHNhbXBsZSBub25jZQ==x']) {
      assert.equal(status(request({ 'sec-websocket-key': key })), 400, `key ${JSON.stringify(key)}`);
    }
  });
  test('a version other than 13: 426 with Sec-WebSocket-Version: 13', () => {
    for (const v of ['8', '12', '14', '', ' 13x', undefined]) {
      const r = checkUpgrade(request({ 'sec-websocket-version': v }), anyRules);
      assert.equal(r.ok, false, `version ${v}`);
      if (!r.ok) {
        assert.equal(r.status, 426, `version ${JSON.stringify(v)}`);
        assert.equal(r.headers?.['Sec-WebSocket-Version'], '13');
      }
    }
  });
  test('missing or wrong Upgrade / Connection: 400', () => {
    assert.equal(status(request({ upgrade: undefined })), 400);
    assert.equal(status(request({ upgrade: 'h2c' })), 400);
    assert.equal(status(request({ connection: undefined })), 400);
    assert.equal(status(request({ connection: 'keep-alive' })), 400);
    assert.equal(status(request({ connection: 'upgraded' })), 400, 'a token, not a substring');
  });
  test('a method other than GET: 405 with Allow: GET', () => {
    const r = checkUpgrade(request({}, { method: 'POST' }), anyRules);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.status, 405);
      assert.equal(r.headers?.['Allow'], 'GET');
    }
  });
  test('HTTP/1.0: 400', () => {
    assert.equal(status(request({}, { version: '1.0' })), 400);
  });
  test('missing Host: 400', () => {
    assert.equal(status(request({ host: undefined })), 400);
  });
  test('origins: an allowed origin passes, another or none gets 403', () => {
    const rules: Rules = { ...anyRules, origins: new Set(['https://good.example']) };
    assert.equal(status(request({ origin: 'https://good.example' }), rules), 'ok');
    assert.equal(status(request({ origin: 'https://evil.example' }), rules), 403);
    assert.equal(status(request({ origin: 'https://good.example.evil' }), rules), 403);
    assert.equal(status(request({}), rules), 403);
  });
  test('path: only that path (query ignored), else 404', () => {
    const rules: Rules = { ...anyRules, path: '/ws' };
    assert.equal(status(request({}, { url: '/ws' }), rules), 'ok');
    assert.equal(status(request({}, { url: '/ws?token=1' }), rules), 'ok');
    assert.equal(status(request({}, { url: '/ws/' }), rules), 404);
    assert.equal(status(request({}, { url: '/' }), rules), 404);
  });
  test('the selected subprotocol is returned', () => {
    const r = checkUpgrade(request({ 'sec-websocket-protocol': 'b, a' }), { ...anyRules, protocols: ['a', 'b'] });
    assert.deepEqual(r, { ok: true, key: 'dGhlIHNhbXBsZSBub25jZQ==', protocol: 'a' });
  });
});

describe('selectProtocol', () => {
  test('our preference order wins among those offered', () => {
    assert.equal(selectProtocol('chat.v1, chat.v2', ['chat.v2', 'chat.v1']), 'chat.v2');
    assert.equal(selectProtocol('chat.v1', ['chat.v2', 'chat.v1']), 'chat.v1');
    assert.equal(selectProtocol(' x ,chat.v1 ', ['chat.v1']), 'chat.v1');
  });
  test('nothing in common, nothing offered, or nothing supported: empty', () => {
    assert.equal(selectProtocol('x, y', ['chat.v1']), '');
    assert.equal(selectProtocol(undefined, ['chat.v1']), '');
    assert.equal(selectProtocol('chat.v1', []), '');
  });
});

describe('responses', () => {
  test('101 with the accept key; protocol header only when one was selected; never an extension', () => {
    const plain = acceptResponse('dGhlIHNhbXBsZSBub25jZQ==', '');
    assert.match(plain, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(plain, /\r\nUpgrade: websocket\r\n/i);
    assert.match(plain, /\r\nConnection: Upgrade\r\n/i);
    assert.match(plain, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
    assert.doesNotMatch(plain, /Sec-WebSocket-Protocol|Sec-WebSocket-Extensions/i);
    assert.ok(plain.endsWith('\r\n\r\n'));
    assert.match(acceptResponse('dGhlIHNhbXBsZSBub25jZQ==', 'chat.v1'), /\r\nSec-WebSocket-Protocol: chat\.v1\r\n/);
  });
  test('an error response is complete: status line, extra headers, Connection: close, exact Content-Length', () => {
    const text = errorResponse(426, 'unsupported WebSocket version', { 'Sec-WebSocket-Version': '13' });
    assert.match(text, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
    assert.match(text, /\r\nSec-WebSocket-Version: 13\r\n/);
    assert.match(text, /\r\nConnection: close\r\n/i);
    const [head, body] = text.split('\r\n\r\n');
    const length = Number(/\r\nContent-Length: (\d+)/i.exec(head)?.[1]);
    assert.equal(Buffer.byteLength(body), length);
  });
});
