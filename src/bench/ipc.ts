/**
 * Messages between the load generator's coordinator and its worker processes (over the
 * child_process IPC channel), and the counters every worker keeps.
 */
import type { HistogramJSON } from './histogram.js';
import type { RestartJSON } from './restart.js';

/** The four scenarios of `strangers bench`. */
export const Scenario = { idle: 'idle', chat: 'chat', churn: 'churn', flood: 'flood' } as const;
export type Scenario = (typeof Scenario)[keyof typeof Scenario];

/** What one worker is asked to do. */
export interface WorkerConfig {
  readonly scenario: Scenario;
  /** The servers to connect to, round-robin (one URL, or several nodes of a cluster). */
  readonly urls: readonly string[];
  readonly connections: number;
  readonly localAddresses: readonly string[];
  /** Connections per second for this worker (0: as fast as the handshake concurrency allows). */
  readonly ramp: number;
  /** chat: messages per second per client. */
  readonly rate: number;
  /** flood: messages a client may have sent beyond those it received from its partner. */
  readonly window: number;
  /** churn: messages each side sends per conversation before the pair moves on. */
  readonly perMatch: number;
  /** chat/flood: connections 2k and 2k+1 get an interest of their own, so they pair together. */
  readonly crossPairs: boolean;
  /** Interests sent with every `find` (none by default). */
  readonly interests: readonly string[];
  /** Pads each message's text to this many characters (0: no padding). */
  readonly size: number;
  /** Handshake + welcome timeout per connection. */
  readonly connectTimeoutMs: number;
  /** Handshakes in flight at once per worker (avoids overflowing the server's listen backlog). */
  readonly concurrency: number;
  /** Report the pairs seen at the end (chat/flood) for the cross-worker symmetry check. */
  readonly reportPairs: boolean;
  /** A warm-up precedes the measurement: latencies count only after the coordinator's 'mark'. */
  readonly warmup: boolean;
  /**
   * chat: clients keep their resume token, acknowledge what they receive (cumulative, at most
   * once a second), and when the server closes (1012) or the connection drops they reconnect to
   * the next URL and resume; replayed messages they already have are set aside.
   */
  readonly resume: boolean;
}

/** Cumulative counters of one worker (the coordinator sums them). */
export interface Counters {
  attempted: number;
  connected: number;
  /** Connections that failed before `welcome`, by cause (errno, `http_503`, `timeout`, ...). */
  connectFailures: Record<string, number>;
  /** Connections the server closed (or that dropped) while we had not asked to close, by close code. */
  unexpectedCloses: Record<string, number>;
  /** `ended` events nobody in the scenario caused, by reason. */
  unexpectedEnded: Record<string, number>;
  /** `error` events from the server, by code. */
  serverErrors: Record<string, number>;
  /** `matched` events (two per pairing). */
  matchedEvents: number;
  /** `next` sent (churn). */
  nexts: number;
  /** Messages handed to the socket. */
  sent: number;
  /** send() answered 'dropped' on an open connection: over its buffer cap. */
  dropped: number;
  /** Sends skipped because the connection was closing (the server's close frame had come). */
  closingSends: number;
  /** Messages received from a partner. */
  received: number;
  /** Messages whose sender was not the receiver's partner. */
  misdelivered: number;
  /** Sequence numbers skipped (messages missing in the middle of a conversation). */
  gaps: number;
  /** Messages arriving with an older sequence number than one already seen (duplicate or reordered). */
  reordered: number;
  /** Messages or events we could not parse. */
  garbled: number;
  /** Currently open (welcomed) connections. */
  open: number;
  /** Worker process CPU time (user + system), microseconds. */
  cpuMicros: number;
  /** --resume: connections closed (or dropped) under us and reconnected to resume, by close code. */
  resumeCloses: Record<string, number>;
  /** --resume: reconnection attempts that failed (the next URL was tried), by cause. */
  reconnectFailures: Record<string, number>;
  /** --resume: `resumed` received. */
  resumes: number;
  /** --resume: `resume_failed` received. */
  resumeFailed: number;
  /** --resume: messages replayed after a resume that the client already had (by seq): repeats by design. */
  replayed: number;
  /** --resume: `ack` sent. */
  acks: number;
  /** --resume: clients cut off right now (reconnecting or waiting for `resumed`). */
  away: number;
}

export function newCounters(): Counters {
  return {
    attempted: 0, connected: 0, connectFailures: {}, unexpectedCloses: {}, unexpectedEnded: {},
    serverErrors: {}, matchedEvents: 0, nexts: 0, sent: 0, dropped: 0, closingSends: 0, received: 0, misdelivered: 0,
    gaps: 0, reordered: 0, garbled: 0, open: 0, cpuMicros: 0,
    resumeCloses: {}, reconnectFailures: {}, resumes: 0, resumeFailed: 0, replayed: 0, acks: 0, away: 0,
  };
}

/** Adds `b` into `a` (cumulative counters of several workers). */
export function addCounters(a: Counters, b: Counters): Counters {
  for (const key of Object.keys(b) as Array<keyof Counters>) {
    const v = b[key];
    if (typeof v === 'number') (a[key] as number) += v;
    else {
      const into = a[key] as Record<string, number>;
      for (const [k, n] of Object.entries(v)) into[k] = (into[k] ?? 0) + n;
    }
  }
  return a;
}

/** Coordinator -> worker. */
export type ToWorker =
  | { readonly t: 'start'; readonly config: WorkerConfig }
  /** Begin the scenario (everyone is connected). */
  | { readonly t: 'go' }
  /** The warm-up is over: report the counters now (the baseline), then measure. */
  | { readonly t: 'mark' }
  /** Stop starting new sends/finds; keep receiving. */
  | { readonly t: 'quiesce' }
  /** Close every connection with 1000, send 'final', exit. */
  | { readonly t: 'close' };

/** Worker -> coordinator. */
export type FromWorker =
  /** Every second and at phase changes: cumulative counters + histograms of the interval. */
  | {
      readonly t: 'stats';
      readonly quiesced: boolean;
      /** The latencies in this message were recorded after the warm-up. */
      readonly measuring: boolean;
      /** The answer to 'mark': these counters are the measurement's baseline. */
      readonly marked: boolean;
      readonly counters: Counters; readonly latency: HistogramJSON; readonly connectLatency: HistogramJSON }
  /** The connect phase is over (every connection welcomed or failed). */
  | { readonly t: 'connected' }
  /**
   * Last message: final counters, last histograms, (chat/flood) [me, partner] id pairs, and
   * (--resume) the restart windows.
   */
  | {
      readonly t: 'final';
      readonly counters: Counters; readonly latency: HistogramJSON; readonly connectLatency: HistogramJSON;
      readonly pairs: ReadonlyArray<readonly [string, string]>;
      readonly restart?: RestartJSON;
    };

/** The text of a measured message: sender id, sequence number in the conversation, send time (µs). */
export function encodeText(sender: string, seq: number, sentAtMicros: number, padTo: number): string {
  const text = `${sender} ${seq} ${sentAtMicros}`;
  return text.length >= padTo ? text : text + ' ' + 'x'.repeat(padTo - text.length - 1);
}

/** Inverse of {@link encodeText}; undefined when the text is not one of ours. */
export function decodeText(text: string): { sender: string; seq: number; sentAtMicros: number } | undefined {
  const a = text.indexOf(' ');
  const b = a < 0 ? -1 : text.indexOf(' ', a + 1);
  if (b < 0) return undefined;
  const c = text.indexOf(' ', b + 1);
  const seq = Number(text.slice(a + 1, b));
  const sentAtMicros = Number(text.slice(b + 1, c < 0 ? text.length : c));
  if (!Number.isInteger(seq) || !Number.isFinite(sentAtMicros)) return undefined;
  return { sender: text.slice(0, a), seq, sentAtMicros };
}

/** Microseconds on the machine-wide monotonic clock (comparable between processes on one host). */
export function nowMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** A short stable cause for a failed connection: `http_503`, an errno such as `ECONNREFUSED`, `timeout`, ... */
export function failureCause(err: unknown): string {
  const e = err as { code?: unknown; status?: unknown; message?: unknown };
  if (typeof e?.status === 'number') return `http_${e.status}`;
  const message = typeof e?.message === 'string' ? e.message : '';
  const errno = /\b(E[A-Z0-9]{3,})\b/.exec(message);
  if (errno) return errno[1];
  if (/timed out/.test(message)) return 'timeout';
  if (/closed during/.test(message)) return 'closed_during_handshake';
  return typeof e?.code === 'string' ? e.code : 'error';
}
