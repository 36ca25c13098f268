/**
 * Session tokens: signed, self-contained, verified by any node of a cluster with one HMAC and no
 * lookup.
 *
 *     s1.<person>.<issuedAt>.<expiresAt>.<mac>
 *
 * `person` is 16 random bytes (22 base64url characters), the times are ms since the epoch in
 * decimal, and `mac` is HMAC-SHA-256 over everything before it (43 base64url characters), keyed
 * with a key derived from the cluster secret for this purpose only. Every character is a cookie
 * octet and URL-safe, so the same string goes in the cookie and in `?session=`. Clients treat it
 * as opaque.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a valid token says. */
export interface SessionClaims {
  /** Random person id: who limits, skips and reports apply to. Never shown to other users. */
  readonly person: string;
  /** ms since the epoch. */
  readonly issuedAt: number;
  /** ms since the epoch. */
  readonly expiresAt: number;
}

/** Why a token was refused. */
export const TokenError = {
  /** Not a token of this format (or absent). */
  malformed: 'malformed',
  /** The signature does not match: forged, altered, or signed with another secret. */
  forged: 'forged',
  expired: 'expired',
} as const;
export type TokenError = (typeof TokenError)[keyof typeof TokenError];

const VERSION = 's1';
/** Longest token we even look at (a real one is about 97 characters). */
const MAX_LENGTH = 160;
/** Tolerated clock difference between nodes for `issuedAt` in the future. */
const CLOCK_SKEW_MS = 5 * 60_000;
const PERSON = /^[A-Za-z0-9_-]{22}$/;
const TIME = /^\d{1,15}$/;
const MAC = /^[A-Za-z0-9_-]{43}$/;

/** Signs and verifies tokens with a key derived from the cluster secret. */
export class SessionTokens {
  readonly #key: Buffer;

  constructor(secret: string) {
    // A key of its own: the raw secret is never used directly, and no other purpose shares it.
    this.#key = createHmac('sha256', secret).update('strangers/session/v1').digest();
  }

  /** A new session for a new random person. */
  issue(now: number, ttlMs: number): { token: string; claims: SessionClaims } {
    const claims: SessionClaims = { person: randomBytes(16).toString('base64url'), issuedAt: now, expiresAt: now + ttlMs };
    const body = `${VERSION}.${claims.person}.${claims.issuedAt}.${claims.expiresAt}`;
    return { token: `${body}.${this.#mac(body).toString('base64url')}`, claims };
  }

  /** The claims of a valid, unexpired token, or why it is refused. One HMAC; never throws. */
  verify(token: string | undefined, now: number): SessionClaims | TokenError {
    if (token === undefined || token.length > MAX_LENGTH) return TokenError.malformed;
    const parts = token.split('.');
    if (parts.length !== 5) return TokenError.malformed;
    const [version, person, issued, expires, mac] = parts as [string, string, string, string, string];
    if (version !== VERSION || !PERSON.test(person) || !TIME.test(issued) || !TIME.test(expires) || !MAC.test(mac)) return TokenError.malformed;
    // Compared as text: the last base64url character carries 2 spare bits, so decoding both
    // sides would accept 4 spellings of one MAC. One token, one spelling.
    const expected = Buffer.from(this.#mac(token.slice(0, token.length - mac.length - 1)).toString('base64url'), 'latin1');
    if (!timingSafeEqual(expected, Buffer.from(mac, 'latin1'))) return TokenError.forged;
    const issuedAt = Number(issued);
    const expiresAt = Number(expires);
    if (expiresAt <= now || issuedAt > now + CLOCK_SKEW_MS) return TokenError.expired;
    return { person, issuedAt, expiresAt };
  }

  #mac(body: string): Buffer {
    return createHmac('sha256', this.#key).update(body).digest();
  }
}
