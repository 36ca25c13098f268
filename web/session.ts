/**
 * The anonymous session (docs/protocol.md, "Sessions"). Before the page's WebSocket opens, the
 * browser must hold a session cookie (HttpOnly: the page cannot read it, so it remembers when
 * the session expires). Without one, the page asks for a proof-of-work challenge, solves it in
 * Web Workers (altcha-lib over WebCrypto; the page stays responsive), and exchanges the solution
 * for a session at `POST /session`. It shows nothing unless that takes long.
 *
 * With the server's gate off, `/session/challenge` answers 404 and the page simply connects.
 */
import { solveChallengeWorkers, type Challenge } from 'altcha-lib';

const STORAGE_KEY = 'strangers.session';
/** The solver, bundled on its own (scripts/build-web.mjs). */
const WORKER_URL = '/pow-worker.js';

export const SessionTiming = {
  /** A session this close to its end is renewed before connecting. */
  renewBeforeMs: 5 * 60_000,
  /** Say "Checking your browser…" only when getting a session takes longer than this. */
  slowAfterMs: 1500,
} as const;

/** Most workers solving at once (the work is split among them; the total stays the same). */
const MAX_WORKERS = 4;

export interface SessionEvents {
  /** Getting a session has taken long (true), or is over (false). */
  slow(on: boolean): void;
  /** The server refused a session, with its error code (`banned`, `rate_limited`, ...). */
  refused(code: string): void;
}

type Status = 'valid' | 'invalid' | 'off' | 'unreachable';

export class SessionKeeper {
  #events: SessionEvents;
  /** When the session ends (ms), also kept here when storage is unavailable. */
  #expiresAt = 0;
  /** The server runs without the gate: no session needed. */
  #gateOff = false;

  constructor(events: SessionEvents) {
    this.#events = events;
    try {
      this.#expiresAt = Number(localStorage.getItem(STORAGE_KEY)) || 0;
    } catch {
      // Storage disabled: the session is remembered for this page only.
    }
  }

  /**
   * Runs before every connection attempt. `closedBeforeOpen`: the last attempt failed before the
   * socket opened, which a refused session (401) looks like to a page; the server is asked then.
   * Resolves true to connect now, false to wait for the next attempt.
   */
  async prepare(closedBeforeOpen: boolean): Promise<boolean> {
    if (closedBeforeOpen) {
      const status = await this.#status();
      if (status === 'unreachable') return false;
      this.#gateOff = status === 'off';
      if (status !== 'invalid') return true; // the refusal had another cause (full, restarting...)
      this.#remember(0);
    } else if (this.#gateOff || this.#expiresAt - Date.now() > SessionTiming.renewBeforeMs) {
      return true;
    }
    return this.#obtain();
  }

  /** Whether the cookie the browser holds is a valid session (`GET /session`). */
  async #status(): Promise<Status> {
    try {
      const res = await fetch('/session', { cache: 'no-store' });
      if (res.status === 200) {
        const body = (await res.json()) as { expiresAt?: unknown };
        if (typeof body.expiresAt === 'number') this.#remember(body.expiresAt);
        return 'valid';
      }
      if (res.status === 401) return 'invalid';
      if (res.status === 404) return 'off';
      return 'unreachable';
    } catch {
      return 'unreachable';
    }
  }

  /** Challenge, solve, redeem. True once the browser holds a session (or none is needed). */
  async #obtain(): Promise<boolean> {
    const slow = setTimeout(() => this.#events.slow(true), SessionTiming.slowAfterMs);
    try {
      const res = await fetch('/session/challenge', { cache: 'no-store' });
      if (res.status === 404) {
        this.#gateOff = true;
        return true;
      }
      if (!res.ok) {
        this.#events.refused(await errorCode(res));
        return false;
      }
      const challenge = (await res.json()) as Challenge;
      const solution = await solveChallengeWorkers({
        challenge,
        concurrency: Math.min(MAX_WORKERS, navigator.hardwareConcurrency || 2),
        createWorker: () => new Worker(WORKER_URL),
      });
      if (solution === null) return false;
      // The payload exactly as the ALTCHA widget sends it: base64 of {challenge, solution}.
      const altcha = btoa(JSON.stringify({ challenge, solution }));
      const post = await fetch('/session', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ altcha }),
      });
      if (!post.ok) {
        this.#events.refused(await errorCode(post));
        return false;
      }
      const body = (await post.json()) as { expiresAt?: unknown };
      this.#remember(typeof body.expiresAt === 'number' ? body.expiresAt : Date.now() + 60_000);
      return true;
    } catch {
      return false; // network or worker failure: the connection's backoff tries again
    } finally {
      clearTimeout(slow);
      this.#events.slow(false);
    }
  }

  #remember(expiresAt: number): void {
    this.#expiresAt = expiresAt;
    try {
      if (expiresAt > 0) localStorage.setItem(STORAGE_KEY, String(expiresAt));
      else localStorage.removeItem(STORAGE_KEY);
    } catch {
      // Storage disabled: kept in memory.
    }
  }
}

async function errorCode(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: unknown };
    return typeof body.error === 'string' ? body.error : `http_${res.status}`;
  } catch {
    return `http_${res.status}`;
  }
}
