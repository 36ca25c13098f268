// Session tokens (src/session/token.ts): round trip, and every kind of bad token refused with
// its reason, never an exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SessionTokens, TokenError } from '../../src/session/token.js';

const SECRET = 'a-test-secret-of-at-least-32-characters';
const T0 = 1_700_000_000_000;

test('a token verifies to its claims until it expires', () => {
  const tokens = new SessionTokens(SECRET);
  const { token, claims } = tokens.issue(T0, 60_000);
  assert.match(token, /^s1\.[A-Za-z0-9_-]{22}\.\d+\.\d+\.[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(tokens.verify(token, T0), claims);
  assert.deepEqual(tokens.verify(token, T0 + 59_999), claims);
  assert.equal(tokens.verify(token, T0 + 60_000), TokenError.expired);
  assert.deepEqual(claims, { person: claims.person, issuedAt: T0, expiresAt: T0 + 60_000 });
  assert.notEqual(tokens.issue(T0, 1).claims.person, claims.person, 'a new random person each time');
  // Any node with the same secret verifies it: nothing is looked up.
  assert.deepEqual(new SessionTokens(SECRET).verify(token, T0), claims);
});

test('forged, altered, foreign and malformed tokens are refused with their reason', () => {
  const tokens = new SessionTokens(SECRET);
  const { token } = tokens.issue(T0, 60_000);
  const parts = token.split('.');
  const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  // Another person, a later expiry, a changed MAC: each one character off.
  assert.equal(tokens.verify([parts[0], flip(parts[1]!, 3), ...parts.slice(2)].join('.'), T0), TokenError.forged);
  assert.equal(tokens.verify([...parts.slice(0, 3), String(T0 + 86_400_000), parts[4]].join('.'), T0), TokenError.forged);
  assert.equal(tokens.verify([...parts.slice(0, 4), flip(parts[4]!, 10)].join('.'), T0), TokenError.forged);
  assert.equal(new SessionTokens('another-secret-of-at-least-32-characters').verify(token, T0), TokenError.forged);
  for (const bad of [undefined, '', 'x', token + '.', `s2.${parts.slice(1).join('.')}`, token.replace(/\./g, '_'), token + 'A', 'a'.repeat(10_000)]) {
    assert.equal(tokens.verify(bad, T0), TokenError.malformed, String(bad).slice(0, 40));
  }
});

test('verify never throws and accepts nothing it did not sign (fuzzed)', () => {
  const tokens = new SessionTokens(SECRET);
  const { token } = tokens.issue(T0, 60_000);
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => typeof tokens.verify(s, T0) === 'string'),
    { numRuns: 2000 },
  );
  // Every single-character change of a real token is refused.
  const alphabet = 'AZaz09-_.';
  for (let i = 0; i < token.length; i++) {
    for (const c of alphabet) {
      if (c === token[i]) continue;
      const altered = token.slice(0, i) + c + token.slice(i + 1);
      assert.equal(typeof tokens.verify(altered, T0), 'string', `position ${i} -> ${c}`);
    }
  }
});
