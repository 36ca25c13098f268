/**
 * The engine: everything the chat needs that must be shared between server processes.
 * The in-memory engine (default) serves one process; the Redis engine serves many processes
 * on many machines. The chat logic talks only to this interface, so both are interchangeable.
 *
 * Roles are narrow: a match queue (pair me or queue me), a relay (node to node delivery),
 * presence (cluster counts and node liveness). Every implementation runs the same contract
 * suite in test/contract/.
 */

/** Why a conversation ended; the wire protocol's `ended.reason`. */
export const EndReason = {
  skipped: 'skipped',
  left: 'left',
  disconnected: 'disconnected',
  shutdown: 'shutdown',
} as const;
export type EndReason = (typeof EndReason)[keyof typeof EndReason];

/** A user waiting for a partner, as the queue stores it. */
export interface Waiter {
  /** Random anonymous id, unique across the cluster, new for every connection. */
  readonly userId: string;
  /** The node (server process) the user is connected to. */
  readonly nodeId: string;
  /** Normalized interest tags (see chat/interests.ts), at most 10. */
  readonly interests: readonly string[];
  /** When the user started waiting (ms since epoch). Longest-waiting is served first. */
  readonly since: number;
  /**
   * From this time on (ms since epoch) the user accepts a partner with no shared interest.
   * Equal to `since` for a user without interests.
   */
  readonly anyoneAfter: number;
  /** Users this one must not be paired with (recent skips either way). Checked both ways. */
  readonly avoid: readonly string[];
}

/** The result of a successful pairing, seen from the caller's side. */
export interface Match {
  readonly partner: Waiter;
  /** Interests the two share (possibly empty). */
  readonly common: readonly string[];
}

/**
 * The waiting queue.
 *
 * Contract:
 * - `pairOrEnqueue` is atomic across the whole cluster: it either removes exactly one compatible
 *   waiter and returns it, or enqueues the caller and returns null. A waiter is returned by at
 *   most one call, ever; nobody is paired with themselves.
 * - Compatible means: neither lists the other in `avoid`, and they share an interest, or both
 *   accept anyone at `now` (`anyoneAfter <= now`).
 * - Among compatible waiters, one sharing an interest is preferred; within a class the
 *   longest-waiting (smallest `since`) wins.
 * - Waiters whose node is no longer alive are skipped and dropped.
 */
export interface MatchQueue {
  pairOrEnqueue(waiter: Waiter, now: number): Promise<Match | null>;
  /**
   * Removes the user from the queue. Resolves true if they were waiting, false if they were not
   * (never queued, or already taken by a concurrent `pairOrEnqueue`: then a `matched` relay
   * event for them is on its way to their node).
   */
  remove(userId: string): Promise<boolean>;
}

/** Node-to-node events. Each names the local user it is for (`to`). */
export type RelayEvent =
  | { readonly kind: 'matched'; readonly to: string; readonly partner: string; readonly partnerNode: string; readonly common: readonly string[] }
  | { readonly kind: 'msg'; readonly to: string; readonly from: string; readonly text: string }
  | { readonly kind: 'typing'; readonly to: string; readonly from: string; readonly on: boolean }
  | { readonly kind: 'ended'; readonly to: string; readonly from: string; readonly reason: EndReason }
  /** `from` reported `to` (moderation); `reporter` is the reporter's salted IP hash, never an IP. */
  | { readonly kind: 'report'; readonly to: string; readonly from: string; readonly reporter: string };

/**
 * Delivery to the node a user is connected to.
 *
 * Contract: events from one node to another arrive in the order they were sent; delivery is
 * at-most-once (a node that is down loses them; liveness tells the chat). Sending to the own
 * node is allowed and is delivered like any other (asynchronously).
 */
export interface Relay {
  send(nodeId: string, event: RelayEvent): void;
}

/** Counts one node reports about itself. */
export interface NodeCounts {
  /** Connected users. */
  online: number;
  /** Users waiting for a partner. */
  searching: number;
  /** Users in a conversation (a pair counts as two users, possibly on two nodes). */
  chatting: number;
}

/**
 * Cluster-wide presence.
 *
 * Contract: `report` publishes this node's counts (call it at least once a second); `counts`
 * sums the counts of all live nodes (the own node's latest report included).
 */
export interface Presence {
  report(counts: NodeCounts): void;
  counts(): NodeCounts;
}

/**
 * Short-lived marks and counters for the session gate (src/session): solutions used once, and
 * requests per address key per window. Keys are opaque strings the caller builds (ids and keyed
 * hashes, never addresses).
 *
 * Contract:
 * - `claimOnce(key, ttlMs)` is atomic across the cluster: among all calls with one key while its
 *   mark lives (`ttlMs` from the first successful call), at most one resolves true. A store that
 *   is full may resolve false (it fails closed: never true twice).
 * - `hit(key, windowMs)` counts one event and resolves with the count of the current window, this
 *   event included. Windows are fixed: one starts at the first hit and lasts `windowMs`; the next
 *   hit after it starts a new one at 1. Counts are never higher than the truth; a full memory
 *   store may forget its oldest counters (lower).
 * - Every mark and counter expires (`ttlMs`, `windowMs`): the store never grows without bound.
 * - Rejects with {@link EngineUnavailableError} when the backing store is unreachable.
 */
export interface GateStore {
  claimOnce(key: string, ttlMs: number): Promise<boolean>;
  hit(key: string, windowMs: number): Promise<number>;
}

/** What the engine tells the chat. */
export interface EngineListener {
  /** A relay event for a user on this node arrived. */
  onRelay(event: RelayEvent): void;
  /** Another node stopped heartbeating: every local user paired with one of its users is disconnected. */
  onNodeDown(nodeId: string): void;
  /** The engine lost or regained its backing store (Redis). Never called by the memory engine. */
  onReadyChange?(ready: boolean): void;
}

export interface Engine {
  /** This process's node id, unique in the cluster. */
  readonly nodeId: string;
  readonly queue: MatchQueue;
  readonly relay: Relay;
  readonly presence: Presence;
  /** Marks and counters of the session gate. */
  readonly gate: GateStore;
  /** True while the engine can match and relay (the memory engine always can). */
  ready(): boolean;
  start(listener: EngineListener): Promise<void>;
  /** Leaves the cluster: removes this node's waiters and stops heartbeating. */
  close(): Promise<void>;
}

/** A stable error code the engine throws when its store is unreachable; the chat maps it to the wire. */
export class EngineUnavailableError extends Error {
  readonly code = 'engine_unavailable';
  constructor(message = 'matchmaking is temporarily unavailable') {
    super(message);
    this.name = 'EngineUnavailableError';
  }
}
