/**
 * The session gate: a browser proves some work (an ALTCHA proof-of-work challenge, made and
 * verified by `altcha-lib`) and gets a signed session token in exchange.
 *
 * - A challenge is `altcha-lib`'s `createChallenge` output, PBKDF2/SHA-256, signed with a key
 *   derived from the cluster secret, valid for `challengeTtlMs`. The expected work is visible in
 *   its parameters: `16^keyPrefix.length` attempts (4096) of `cost` PBKDF2 iterations each.
 * - Adaptive: each address key's challenge requests are counted per `windowMs` (cluster-wide,
 *   through the engine's {@link GateStore}); past `freeChallenges` the cost doubles every
 *   `doubleEvery` requests, up to `maxFactor` times the base; past `maxChallengesPerWindow` the
 *   request is refused (`rate_limited`).
 * - A solution is good once, cluster-wide: the challenge's nonce is claimed in the store (until
 *   the challenge expires) before the one PBKDF2 derivation that checks it. A challenge whose
 *   signature does not match never reaches the store.
 * - The token (token.ts) carries a random person id; any node verifies it without a lookup.
 *
 * Knows no HTTP: src/http/session-routes.ts maps results to responses.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createChallenge, verifySolution, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import type { GateStore } from '../engine/engine.js';
import { SessionTokens, type SessionClaims, type TokenError } from './token.js';

/** Every limit of the gate, with its default and the reason for it. */
export const gateDefaults = {
  /**
   * PBKDF2-SHA-256 iterations per attempt at the base difficulty. With 4096 attempts expected,
   * measured on the reference machine (docs/safety.md): about 0.6 s of one core with altcha-lib's
   * solver in Node, 0.5 s in Chromium: unnoticed by a person, a cost per session for a farm.
   */
  powCost: 500,
  /**
   * Required prefix of the derived key, in hex: each character multiplies the expected attempts
   * by 16 (3: 4096). Long enough that the solver's per-attempt overhead is small beside the work
   * it proves, while verifying one attempt stays cheap for the server (about 0.15 ms).
   */
  keyPrefix: '000',
  /** How long a challenge may be solved: a slow phone at the highest cost still makes it. */
  challengeTtlMs: 5 * 60_000,
  /** Session lifetime: a day of chatting without solving again. */
  sessionTtlMs: 24 * 3_600_000,
  /** The window in which an address key's challenge requests are counted. */
  windowMs: 60_000,
  /** Challenge requests per window at the base cost: page loads, reconnects, a shared NAT. */
  freeChallenges: 10,
  /** Past the free ones, the cost doubles every this many requests (30 in a minute: 4x). */
  doubleEvery: 10,
  /** The highest cost, as a multiple of the base (16x: about 10 s of one core). */
  maxFactor: 16,
  /** Challenge requests per window above which an address key is refused (`rate_limited`). */
  maxChallengesPerWindow: 120,
  /** Largest `altcha` payload accepted (a real one is about 700 characters). */
  maxPayloadChars: 3000,
} as const;

export interface GateOptions {
  /** The cluster secret (every node the same); keys are derived from it, one per purpose. */
  readonly secret: string;
  /** Where claims and counters live (the engine's `gate` role). */
  readonly store: GateStore;
  /** @default gateDefaults.powCost */
  readonly powCost?: number;
  /** @default gateDefaults.sessionTtlMs */
  readonly sessionTtlMs?: number;
  /** Refuse new sessions to an address key (moderation). @default never */
  readonly isBanned?: (address: string) => Promise<boolean>;
  /** Any of {@link gateDefaults} (tests shorten windows and TTLs). */
  readonly limits?: Partial<Omit<typeof gateDefaults, 'powCost' | 'sessionTtlMs'>>;
  /** The clock (ms). @default Date.now */
  readonly now?: () => number;
}

/**
 * Why a request to the gate was refused; the JSON error code of /session and
 * /session/challenge, with its HTTP status (docs/protocol.md).
 */
export const GateError = {
  bad_request: 400,
  too_large: 413,
  timeout: 408,
  invalid_challenge: 403,
  invalid_solution: 403,
  expired: 403,
  replayed: 409,
  banned: 403,
  rate_limited: 429,
  engine_unavailable: 503,
} as const;
export type GateError = keyof typeof GateError;

export type ChallengeResult = { readonly ok: true; readonly challenge: Challenge; readonly factor: number } | { readonly ok: false; readonly error: GateError };
export type RedeemResult = { readonly ok: true; readonly token: string; readonly claims: SessionClaims } | { readonly ok: false; readonly error: GateError };

/** Plain integer totals, read by /metrics at scrape time. */
export interface GateStats {
  /** Challenges handed out. */
  challenges: number;
  /** Sessions issued. */
  issued: number;
  /** Requests to /session or /session/challenge refused, by error code. */
  readonly failed: Record<GateError, number>;
  /** WebSocket upgrades refused for want of a valid session (counted by the server's admission). */
  unauthorized: number;
}

const ALGORITHM = 'PBKDF2/SHA-256';
const NONCE = /^[0-9a-f]{32}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export class SessionGate {
  readonly tokens: SessionTokens;
  readonly powCost: number;
  readonly sessionTtlMs: number;
  readonly limits: Omit<typeof gateDefaults, 'powCost' | 'sessionTtlMs'>;
  readonly stats: GateStats = {
    challenges: 0,
    issued: 0,
    failed: Object.fromEntries(Object.keys(GateError).map((k) => [k, 0])) as Record<GateError, number>,
    unauthorized: 0,
  };
  readonly #store: GateStore;
  /** altcha-lib signs challenges with this (a string: its API takes one). */
  readonly #challengeKey: string;
  readonly #isBanned: (address: string) => Promise<boolean>;
  readonly #now: () => number;

  constructor(options: GateOptions) {
    this.tokens = new SessionTokens(options.secret);
    this.#challengeKey = createHmac('sha256', options.secret).update('strangers/pow-challenge/v1').digest('hex');
    this.#store = options.store;
    this.powCost = positiveInt('powCost', options.powCost ?? gateDefaults.powCost);
    this.sessionTtlMs = positiveInt('sessionTtlMs', options.sessionTtlMs ?? gateDefaults.sessionTtlMs);
    const { powCost: _c, sessionTtlMs: _t, ...rest } = gateDefaults;
    this.limits = { ...rest, ...options.limits };
    this.#isBanned = options.isBanned ?? (() => Promise.resolve(false));
    this.#now = options.now ?? Date.now;
  }

  /** The cost multiple for the `hits`-th challenge request of an address key in one window. */
  factor(hits: number): number {
    const { freeChallenges, doubleEvery, maxFactor } = this.limits;
    const doublings = Math.floor(Math.max(0, hits - freeChallenges) / doubleEvery);
    return Math.min(maxFactor, 2 ** Math.min(doublings, 30));
  }

  /** A new challenge for the client at `address` (an address key), priced by its recent requests. */
  async challenge(address: string): Promise<ChallengeResult> {
    let hits: number;
    try {
      hits = await this.#store.hit(`a:${address}`, this.limits.windowMs);
    } catch {
      return this.#fail('engine_unavailable');
    }
    if (hits > this.limits.maxChallengesPerWindow) return this.#fail('rate_limited');
    const factor = this.factor(hits);
    const challenge = await createChallenge({
      algorithm: ALGORITHM,
      cost: this.powCost * factor,
      keyPrefix: this.limits.keyPrefix,
      deriveKey,
      expiresAt: Math.floor((this.#now() + this.limits.challengeTtlMs) / 1000),
      hmacSignatureSecret: this.#challengeKey,
    });
    this.stats.challenges++;
    return { ok: true, challenge, factor };
  }

  /**
   * Exchanges an ALTCHA payload (base64 of the JSON `{challenge, solution}`, as the ALTCHA widget
   * and altcha-lib make it) for a session. Cheap checks first; the store is touched only for a
   * genuine, unexpired challenge, and the one PBKDF2 derivation only after its claim.
   */
  async redeem(address: string, payload: unknown): Promise<RedeemResult> {
    const parsed = parsePayload(payload, this.limits.maxPayloadChars);
    if (parsed === undefined) return this.#fail('bad_request');
    const { challenge, solution } = parsed;
    try {
      if (await this.#isBanned(address)) return this.#fail('banned');
    } catch {
      return this.#fail('engine_unavailable');
    }
    if (!this.#signatureMatches(challenge)) return this.#fail('invalid_challenge');
    const p = challenge.parameters;
    const now = this.#now();
    if (typeof p.expiresAt !== 'number' || p.expiresAt * 1000 <= now) return this.#fail('expired');
    if (p.algorithm !== ALGORITHM || !NONCE.test(p.nonce)) return this.#fail('invalid_challenge');
    try {
      // Until the challenge expires (plus a second of clock slack), its nonce stays claimed.
      if (!(await this.#store.claimOnce(`s:${p.nonce}`, p.expiresAt * 1000 - now + 1000))) return this.#fail('replayed');
    } catch {
      // EngineUnavailableError, or anything else the store throws: no claim, no session.
      return this.#fail('engine_unavailable');
    }
    let verified = false;
    try {
      const result = await verifySolution({ challenge, solution, deriveKey, hmacSignatureSecret: this.#challengeKey });
      if (result.expired) return this.#fail('expired');
      verified = result.verified;
    } catch {
      verified = false;
    }
    if (!verified) return this.#fail('invalid_solution');
    const { token, claims } = this.tokens.issue(this.#now(), this.sessionTtlMs);
    this.stats.issued++;
    return { ok: true, token, claims };
  }

  /** The claims of a valid session token, or why it is refused. One HMAC, no lookup. */
  verify(token: string | undefined): SessionClaims | TokenError {
    return this.tokens.verify(token, this.#now());
  }

  /** Counts a refusal decided outside the gate (too large, timeout) with the others. */
  countFailure(error: GateError): void {
    this.stats.failed[error]++;
  }

  #fail(error: GateError): { ok: false; error: GateError } {
    this.stats.failed[error]++;
    return { ok: false, error };
  }

  /** The same check altcha-lib's verifySolution makes first, without the derivation after it. */
  #signatureMatches(challenge: Challenge): boolean {
    if (typeof challenge.signature !== 'string' || !/^[0-9a-f]{64}$/.test(challenge.signature)) return false;
    const expected = createHmac('sha256', this.#challengeKey).update(canonicalJson(challenge.parameters)).digest();
    return timingSafeEqual(expected, Buffer.from(challenge.signature, 'hex'));
  }
}

/** JSON with keys sorted at every level, as altcha-lib signs challenge parameters. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const obj = value as Record<string, unknown>;
  // fromEntries keeps a `__proto__` key an own property, as altcha-lib does.
  return Object.fromEntries(
    Object.keys(obj)
      .sort()
      .filter((k) => obj[k] !== undefined)
      .map((k) => [k, sortKeys(obj[k])]),
  );
}

/**
 * Decodes `base64(JSON {challenge: {parameters, signature}, solution: {counter, derivedKey}})`;
 * undefined for anything else. Extra fields (the widget's `solution.time`) are allowed.
 */
function parsePayload(payload: unknown, maxChars: number): { challenge: Challenge; solution: { counter: number; derivedKey: string } } | undefined {
  if (typeof payload !== 'string' || payload.length === 0 || payload.length > maxChars || payload.length % 4 !== 0 || !BASE64.test(payload)) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(payload, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(decoded) || !isObject(decoded.challenge) || !isObject(decoded.solution)) return undefined;
  const { challenge, solution } = decoded;
  const p = challenge.parameters;
  if (!isObject(p) || typeof p.algorithm !== 'string' || typeof p.nonce !== 'string' || typeof p.salt !== 'string' || typeof p.keyPrefix !== 'string') return undefined;
  if (typeof p.cost !== 'number' || typeof p.keyLength !== 'number' || typeof challenge.signature !== 'string') return undefined;
  if (typeof solution.counter !== 'number' || typeof solution.derivedKey !== 'string') return undefined;
  return { challenge: challenge as unknown as Challenge, solution: solution as { counter: number; derivedKey: string } };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInt(name: string, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer`);
  return n;
}
