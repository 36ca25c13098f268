/**
 * A WebSocket to the page's own origin (`/ws`) that comes back by itself: when the network drops
 * or the server restarts it retries with exponential backoff and jitter, retries at once when the
 * browser says it is online again or the tab becomes visible, and reports every state change.
 * A deploy (close code 1012) is retried at once: another node is there to resume on. After the
 * computer slept, the socket may be dead without knowing it: the page then opens a new one.
 */
import { parseServerMessage, type ClientMessage, type ServerMessage } from './protocol.js';

/** Where the connection stands, for the page to show. */
export const LinkState = {
  connecting: 'connecting',
  open: 'open',
  /** Lost; `retryAt` says when the next attempt starts. */
  waiting: 'waiting',
} as const;
export type LinkState = (typeof LinkState)[keyof typeof LinkState];

/** Callbacks the page supplies. */
export interface ConnectionEvents {
  message(msg: ServerMessage): void;
  /** `retryAt` is a time in ms (Date.now()) when state is `waiting`, else 0. `code` is the close code. */
  state(state: LinkState, info: { retryAt: number; code: number; attempt: number }): void;
  /**
   * Runs before every attempt (getting a session). `closedBeforeOpen`: the previous attempt
   * ended before its socket opened. Resolve true to connect now, false to wait and retry.
   */
  prepare?(closedBeforeOpen: boolean): Promise<boolean>;
}

/** Backoff schedule. */
const Backoff = {
  /** First retry delay; small so that a quick server restart is barely noticed. */
  baseMs: 400,
  /** Never wait longer than this between attempts. */
  maxMs: 15_000,
  /** After a deploy's 1012, reconnect within this (spread a little, not everyone in one ms). */
  restartJitterMs: 250,
} as const;

/** Close codes with a meaning for reconnecting. */
const CloseCode = {
  /** The server restarts (a deploy): reconnect at once and resume, on whichever node answers. */
  serviceRestart: 1012,
} as const;

/**
 * How a sleep is noticed: a timer compares the wall clock with the monotonic one (which stops
 * while the computer sleeps), or sees a gap far longer than any timer throttling of a frozen or
 * hidden tab explains.
 */
const Wake = {
  checkMs: 5_000,
  /** Wall-clock time that passed without monotonic time: the computer slept. */
  sleptMs: 10_000,
  /** A timer this late: the tab was frozen (hidden tabs are throttled to about a minute). */
  frozenMs: 180_000,
} as const;

/** The endpoint on the page's own origin, `wss://` when the page came over `https://`. */
export function endpoint(loc: Location = location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
}

export class Connection {
  #url: string;
  #events: ConnectionEvents;
  #ws: WebSocket | null = null;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #state: LinkState = LinkState.connecting;
  /** `prepare` is running for the current attempt. */
  #preparing = false;
  /** The last socket opened before it closed (true before the first attempt). */
  #lastOpened = true;
  /** When the last 1012 was retried at once. */
  #lastRestart = -Infinity;

  constructor(url: string, events: ConnectionEvents) {
    this.#url = url;
    this.#events = events;
    addEventListener('online', () => this.retryNow());
    // Lost now, not after a closing handshake that may never finish: the retry starts at once.
    addEventListener('offline', () => this.#drop(1006));
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.retryNow();
    });
    let wall = Date.now();
    let mono = performance.now();
    setInterval(() => {
      const [w, m] = [Date.now(), performance.now()];
      const gap = w - wall;
      const slept = gap - (m - mono) > Wake.sleptMs || gap > Wake.frozenMs;
      [wall, mono] = [w, m];
      if (slept && this.#state === LinkState.open) this.restart();
    }, Wake.checkMs);
  }

  /** The current state. */
  get state(): LinkState {
    return this.#state;
  }

  /** Opens the socket (first call) or does nothing when one is already open or opening. */
  connect(): void {
    if (this.#ws !== null || this.#preparing) return;
    clearTimeout(this.#timer);
    this.#setState(LinkState.connecting, 0, 0);
    const prepare = this.#events.prepare;
    if (prepare === undefined) return this.#open();
    this.#preparing = true;
    prepare(!this.#lastOpened)
      .catch(() => false)
      .then((go) => {
        this.#preparing = false;
        if (go) this.#open();
        else this.#scheduleRetry(1006);
      });
  }

  #open(): void {
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.#url);
    } catch {
      this.#scheduleRetry(1006);
      return;
    }
    this.#ws = ws;
    this.#lastOpened = false;
    ws.addEventListener('open', () => {
      this.#lastOpened = true;
      this.#attempt = 0;
      this.#setState(LinkState.open, 0, 0);
    });
    ws.addEventListener('message', (ev: MessageEvent) => {
      const msg = parseServerMessage(ev.data);
      if (msg !== null) this.#events.message(msg);
    });
    ws.addEventListener('close', (ev: CloseEvent) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#scheduleRetry(ev.code);
    });
  }

  /** Skips the backoff wait when the connection is down. */
  retryNow(): void {
    if (this.#state === LinkState.waiting) {
      this.connect();
    }
  }

  /**
   * Replaces a socket that may be dead without knowing it (after a sleep): closes it and opens a
   * new one now. The page resumes its place on the new one, as after any loss.
   */
  restart(): void {
    if (this.#preparing) return;
    const ws = this.#ws;
    this.#ws = null;
    ws?.close(1000);
    this.#attempt = 0;
    this.connect();
  }

  /** The socket is lost (the browser went offline): forget it at once and schedule a retry. */
  #drop(code: number): void {
    const ws = this.#ws;
    if (ws === null) return;
    this.#ws = null;
    ws.close();
    clearTimeout(this.#timer);
    this.#scheduleRetry(code);
  }

  /** Sends one message; false when the socket is not open (the caller shows that state). */
  send(msg: ClientMessage): boolean {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  #scheduleRetry(code: number): void {
    let delay: number;
    const now = Date.now();
    if (code === CloseCode.serviceRestart && now - this.#lastRestart > Backoff.maxMs) {
      // A deploy: the place is held for a resume on another node, and the wait is the user's.
      // (A second 1012 soon after the first backs off as usual: no tight loop.)
      this.#lastRestart = now;
      this.#attempt = 0;
      delay = Math.round(Math.random() * Backoff.restartJitterMs);
    } else {
      const n = this.#attempt++;
      // Full jitter on an exponential ceiling, so a restarted server is not hit by everyone at once.
      const ceiling = Math.min(Backoff.maxMs, Backoff.baseMs * 2 ** n);
      delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    }
    const retryAt = now + delay;
    this.#timer = setTimeout(() => this.connect(), delay);
    this.#setState(LinkState.waiting, retryAt, code);
  }

  #setState(state: LinkState, retryAt: number, code: number): void {
    this.#state = state;
    this.#events.state(state, { retryAt, code, attempt: this.#attempt });
  }
}
