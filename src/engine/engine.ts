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
  /** Who the user is across connections (the session's person id, or the address key): what `avoid` lists. */
  readonly person: string;
  /** The key of the user's address (never the address): what a report or ban of this user also names. */
  readonly address: string;
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
  /** Persons this one must not be paired with (recent skips either way). Checked both ways; nobody is paired with their own person. */
  readonly avoid: readonly string[];
  /**
   * The user's language, a normalized BCP 47 primary subtag (`en`, `de`); absent (or '') for
   * none. Users are paired only within one language class: the same language, or both none.
   */
  readonly lang?: string;
  /** The user accepts to be picked as a discusser of a question (`find.questions`). */
  readonly questions?: boolean;
  /** Set for an asker (`ask`): the question. An asker waits for two willing users, never for a pair. */
  readonly question?: string;
}

/** The result of a successful pairing, seen from the caller's side. */
export interface Match {
  readonly partner: Waiter;
  /** Interests the two share (possibly empty). */
  readonly common: readonly string[];
  /**
   * Set when the pairing formed a question conversation: its three members. The caller is one
   * of them (the asker, or a discusser); `partner` is then another member (the first discusser
   * who is not the caller). Nobody has been told: the caller announces it to all three.
   */
  readonly question?: QuestionMatch;
}

/** A question and the two willing users picked for it. */
export interface QuestionMatch {
  readonly asker: Waiter;
  /** Discusser 1 (the longer-waiting one) and discusser 2: the `from` numbers the asker sees. */
  readonly discussers: readonly [Waiter, Waiter];
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
 * - Languages: a waiter is paired only with waiters of its language class (the same `lang`, or
 *   both without one), for ordinary pairs and questions alike.
 * - Questions: a waiter with `question` (an asker) is never paired with one user; it waits until
 *   two willing waiters (`questions: true`) of its language class are found, compatible pairwise
 *   (avoid lists, never the same user), and the call returns a match with `question` set. A waiting
 *   question goes first: a willing caller is given, with another willing waiter, to the
 *   longest-waiting question it can serve before any ordinary pairing. Willing waiters otherwise
 *   pair as usual (interests ignored for questions). Discusser 1 is the longer-waiting one.
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

/** The `matched` event that tells waiter `to` about its `partner`. */
export function matchedEvent(to: Waiter, partner: Waiter, common: readonly string[]): RelayEvent {
  return { kind: 'matched', to: to.userId, partner: partner.userId, partnerNode: partner.nodeId, common, partnerPerson: partner.person, partnerAddress: partner.address, lang: to.lang ?? '' };
}

/** A member of a question conversation, as the relay names it. */
export interface QuestionMember {
  readonly id: string;
  readonly node: string;
  readonly person: string;
  readonly address: string;
}

function member(w: Waiter): QuestionMember {
  return { id: w.userId, node: w.nodeId, person: w.person, address: w.address };
}

/**
 * The `question` events that tell the three members of `q` (asker first) about each other, as
 * `[nodeId, event]` pairs; `role` 0 is the asker, 1 and 2 the discussers.
 */
export function questionEvents(q: QuestionMatch): Array<[string, RelayEvent]> {
  const members = [member(q.asker), member(q.discussers[0]), member(q.discussers[1])] as const;
  const text = q.asker.question ?? '';
  const lang = q.asker.lang ?? '';
  return members.map((m, role) => [m.node, { kind: 'question', to: m.id, role, text, members, lang }] as [string, RelayEvent]);
}

/** Node-to-node events. Each names the local user it is for (`to`). */
export type RelayEvent =
  | {
      readonly kind: 'matched';
      readonly to: string;
      readonly partner: string;
      readonly partnerNode: string;
      readonly common: readonly string[];
      /** The partner's person and address key, for skips and reports ('' from an older node). */
      readonly partnerPerson: string;
      readonly partnerAddress: string;
      /**
       * The language class the match was made in ('' none; absent from an older node). A user whose
       * search changed language meanwhile refuses it: nobody is matched across languages.
       */
      readonly lang?: string;
    }
  /** A chat line; `n` numbers the sender's lines in the conversation (0: unnumbered, an older node). */
  | { readonly kind: 'msg'; readonly to: string; readonly from: string; readonly text: string; readonly n: number }
  | { readonly kind: 'typing'; readonly to: string; readonly from: string; readonly on: boolean }
  | { readonly kind: 'ended'; readonly to: string; readonly from: string; readonly reason: EndReason }
  /** The partner `from` lost its connection; its place is held for the resume window. */
  | { readonly kind: 'away'; readonly to: string; readonly from: string }
  /** The first `seq` lines `to` sent in this conversation reached the partner's client. */
  | { readonly kind: 'delivered'; readonly to: string; readonly from: string; readonly seq: number }
  /** The partner `from` resumed: it is now `newId` on `newNode` (and is back, if it was away). */
  | { readonly kind: 'moved'; readonly to: string; readonly from: string; readonly newId: string; readonly newNode: string }
  /** A client resumed on node `fromNode` as session `from`, with the token of place `to` (`mac`, and its `person`). */
  | { readonly kind: 'resume'; readonly to: string; readonly from: string; readonly fromNode: string; readonly mac: string; readonly person: string }
  /** The place `from` moves to session `to`: its state (chat/resume.ts `Handover`, checked by the receiver). */
  | { readonly kind: 'handover'; readonly to: string; readonly from: string; readonly state: unknown }
  /** The resume of session `to` was refused (unknown, expired or used token, or another person). */
  | { readonly kind: 'resume_failed'; readonly to: string; readonly from: string }
  /**
   * A question conversation began: `members` are the asker, discusser 1 and discusser 2; `to` is
   * member `role` (0 asker, 1 or 2 a discusser). Chat lines, typing and `ended` then travel as
   * usual between the discussers, and from each discusser to the asker (`from` names the sender).
   */
  | { readonly kind: 'question'; readonly to: string; readonly role: 0 | 1 | 2; readonly text: string; readonly members: readonly [QuestionMember, QuestionMember, QuestionMember]; readonly lang: string }
  /** The asker `from` left the question conversation of discusser `to`: it goes on as an ordinary pair. */
  | { readonly kind: 'asker_left'; readonly to: string; readonly from: string };

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
  /** Searching users per language (top languages and `other`; users without one are not counted). */
  langs?: Readonly<Record<string, number>>;
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

/** Adds per-language counts `add` into `into` (summing presence reports). */
export function addLanguages(into: Record<string, number>, add: Readonly<Record<string, number>> | undefined): void {
  if (add === undefined) return;
  for (const [k, v] of Object.entries(add)) if (Number.isSafeInteger(v) && v > 0) into[k] = (into[k] ?? 0) + v;
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
  readonly moderation: ModerationStore;
  /** Marks and counters of the session gate. */
  readonly gate: GateStore;
  /** True while the engine can match and relay (the memory engine always can). */
  ready(): boolean;
  start(listener: EngineListener): Promise<void>;
  /** Leaves the cluster: removes this node's waiters and stops heartbeating. */
  close(): Promise<void>;
}

// ---- moderation ----

/** Why a user reported their partner; the wire protocol's `report.reason`. */
export const ReportReason = {
  spam: 'spam',
  harassment: 'harassment',
  sexual: 'sexual',
  minor: 'minor',
  other: 'other',
} as const;
export type ReportReason = (typeof ReportReason)[keyof typeof ReportReason];

/** One chat line kept as evidence: who wrote it (seen from the report), the text, when (ms). */
export interface EvidenceLine {
  readonly from: 'target' | 'reporter';
  readonly text: string;
  readonly at: number;
}

/** A report of `target` by `reporter`; persons and address keys, never addresses. */
export interface Report {
  readonly target: string;
  readonly targetAddress: string;
  readonly reporter: string;
  readonly reporterAddress: string;
  readonly reason: ReportReason;
  /** The conversation's last lines, oldest first (bounded by the chat). */
  readonly evidence: readonly EvidenceLine[];
}

/** The rules a store applies; the chat's options, passed with every call. */
export interface ModerationPolicy {
  /** Distinct reporters (different persons and different addresses) within `windowMs` that ban. */
  readonly threshold: number;
  readonly windowMs: number;
  /** First ban; each later ban of the same person within `offenceMemoryMs` doubles, up to `maxBanMs`. */
  readonly banMs: number;
  readonly maxBanMs: number;
  readonly offenceMemoryMs: number;
  /** How long a case (and its evidence) is kept after its last report. */
  readonly reportTtlMs: number;
  /** Open cases kept at most by a store that must bound itself (the oldest are forgotten; bans never). */
  readonly maxCases: number;
  /** A spam wave: the same text to this many different partners within `spamWindowMs`. */
  readonly spamPartners: number;
  readonly spamWindowMs: number;
  /** How long a skip keeps two persons apart... */
  readonly skipMs: number;
  /** ...for at most this many of a person's latest skips (either way). */
  readonly maxSkips: number;
}

/** One entry of the moderators' review queue: the reports about one person, or a spam wave. */
export interface ReportCase {
  readonly id: string;
  /** Time of the latest report (ms). */
  readonly at: number;
  /** Reason of the latest report (`spam` for an automatic spam-wave entry). */
  readonly reason: ReportReason;
  /** Distinct reporters so far (0 for a spam wave the server found itself). */
  readonly reporters: number;
  readonly automatic: boolean;
  readonly target: { readonly person: string; readonly banned: boolean };
  /** The evidence of its reports and spam-wave copies, oldest first, the newest 40 lines at most. */
  readonly evidence: readonly EvidenceLine[];
}

/** What a search needs to know about a person first. */
export interface SearchCheck {
  /** End of the ban on the person or its address (ms); 0 when there is none. */
  readonly bannedUntil: number;
  /** Persons this one skipped, or who skipped it, within `skipMs`. */
  readonly avoid: readonly string[];
}

/**
 * Reports, bans, spam waves and skips, cluster-wide.
 *
 * Contract:
 * - `report` is atomic: a reporter counts once per target within the window, and only if neither
 *   its person nor its address has reported that target already (one person with many sessions,
 *   or many persons behind one address, count once). Reaching the threshold bans the target's
 *   person and address for `banMs`, doubled for each earlier ban within `offenceMemoryMs`, capped
 *   at `maxBanMs`, and resets the count. Reports about a banned person only update the case.
 * - Bans are never dropped before they end, whatever bounds a store keeps.
 * - Every record expires: counts with the window, cases `reportTtlMs` after their last report,
 *   bans when they end, skips after `skipMs`, spam counters after `spamWindowMs`.
 * - `spamCopy` is atomic: it records that `person` sent text `textKey` to `partner` and answers
 *   how many partners got it in the window, or 0 (drop it) when `partner` would be a new partner
 *   past the `spamPartners`-th; the first refusal in a window opens an automatic case with `evidence`.
 *   `earlier` names a partner who got the text before (a node reports a text only from its second
 *   partner on): it is recorded first, as delivered.
 */
export interface ModerationStore {
  /** Records a report; resolves with the end of the ban it caused (ms), or 0. */
  report(r: Report, policy: ModerationPolicy, now: number): Promise<number>;
  /** The ban in force on `person` or `address`, and the persons `person` must not meet again. */
  checkSearch(person: string, address: string, now: number): Promise<SearchCheck>;
  /** Records a skip between two persons (both ways) for `policy.skipMs`. */
  skip(a: string, b: string, policy: ModerationPolicy, now: number): Promise<void>;
  /** A moderator's ban of `person` (and the address of its latest case, if any); resolves with its end. */
  ban(person: string, ms: number, now: number): Promise<number>;
  /** Lifts the ban of `person` and the address ban that came with it; false if there was none. */
  unban(person: string, now: number): Promise<boolean>;
  /** The open cases, newest first. */
  cases(limit: number, now: number): Promise<ReportCase[]>;
  /** Closes a case (its evidence is forgotten); false if there was none. */
  dismiss(id: string, now: number): Promise<boolean>;
  /** See the contract: the partners `textKey` reached in the window, this one included; 0 means "drop this copy". */
  spamCopy(person: string, address: string, textKey: string, partner: string, evidence: readonly EvidenceLine[], policy: ModerationPolicy, now: number, earlier?: string): Promise<number>;
  /** Bans in force (persons), for metrics. */
  bansInForce(now: number): Promise<number>;
}

/** A stable error code the engine throws when its store is unreachable; the chat maps it to the wire. */
export class EngineUnavailableError extends Error {
  readonly code = 'engine_unavailable';
  constructor(message = 'matchmaking is temporarily unavailable') {
    super(message);
    this.name = 'EngineUnavailableError';
  }
}
