/**
 * The in-memory engine: the embedded default for a single process.
 *
 * Several engines may share one {@link MemoryHub} to simulate a cluster inside one process
 * (tests of cross-node relay without Redis); by default every engine gets its own hub.
 *
 * Data structures (all operations O(interests + avoid-skips), never O(waiters) per call):
 * - `#waiters`: Map in insertion order (= enqueue order = `since` order).
 * - `#plain`: waiters without interests, insertion order.
 * - `#tagged`: waiters with interests, insertion order (scanned for the "anyone" fallback; the
 *   scan stops at the first waiter not yet accepting anyone, which is exact when every node
 *   uses the same interest wait).
 * - `#byTag`: tag -> waiters with that tag, insertion order.
 */
import { randomUUID } from 'node:crypto';
import { MemoryModerationStore } from './moderation-memory.js';
import type {
  Engine,
  EngineListener,
  Match,
  MatchQueue,
  ModerationStore,
  NodeCounts,
  Presence,
  Relay,
  RelayEvent,
  Waiter,
} from './engine.js';
import { MemoryGateStore } from './memory-gate.js';
import { addLanguages } from './engine.js';

/** Two waiters may be paired: not the same user, and neither avoids the other's person. */
function allowed(a: Waiter, b: Waiter): boolean {
  return a.userId !== b.userId && !a.avoid.includes(b.person) && !b.avoid.includes(a.person);
}

function common(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  if (a.length === 0 || b.length === 0) return out;
  for (const tag of a) if (b.includes(tag)) out.push(tag);
  return out;
}

/** How many askers a willing caller examines, and willing waiters per asker (bounds hostile avoid lists). */
const QUESTION_SCAN = 100;

/** The queue of one language class: ordinary waiters, willing discussers and askers. */
class LangQueue {
  readonly waiters = new Map<string, Waiter>();
  readonly #plain = new Set<string>();
  readonly #tagged = new Set<string>();
  readonly #byTag = new Map<string, Set<string>>();
  /** Willing users (`questions`), enqueue order. */
  readonly #willing = new Set<string>();
  /** Askers, enqueue order (their questions wait here, not in the ordinary queue). */
  readonly #askers = new Map<string, Waiter>();

  get empty(): boolean {
    return this.waiters.size === 0 && this.#askers.size === 0;
  }

  pair(waiter: Waiter, now: number): Match | null {
    if (waiter.question !== undefined) return this.#ask(waiter);
    if (waiter.questions === true) {
      const q = this.#serveQuestion(waiter);
      if (q !== null) return q;
    }
    let best: Waiter | undefined;
    // 1. Someone sharing an interest: the first allowed waiter of each tag, oldest of those.
    for (const tag of waiter.interests) {
      const ids = this.#byTag.get(tag);
      if (ids === undefined) continue;
      for (const id of ids) {
        const c = this.waiters.get(id)!;
        if (!allowed(waiter, c)) continue;
        if (best === undefined || c.since < best.since) best = c;
        break;
      }
    }
    // 2. Anyone, if the caller accepts anyone now: oldest of the plain and the ready tagged waiters.
    if (best === undefined && waiter.anyoneAfter <= now) {
      for (const id of this.#plain) {
        const c = this.waiters.get(id)!;
        if (allowed(waiter, c)) {
          best = c;
          break;
        }
      }
      for (const id of this.#tagged) {
        const c = this.waiters.get(id)!;
        if (c.anyoneAfter > now || (best !== undefined && c.since >= best.since)) break;
        if (allowed(waiter, c)) {
          best = c;
          break;
        }
      }
    }
    if (best !== undefined) {
      this.remove(best.userId);
      return { partner: best, common: common(waiter.interests, best.interests) };
    }
    this.waiters.set(waiter.userId, waiter);
    if (waiter.questions === true) this.#willing.add(waiter.userId);
    if (waiter.interests.length === 0) {
      this.#plain.add(waiter.userId);
    } else {
      this.#tagged.add(waiter.userId);
      for (const tag of waiter.interests) {
        let ids = this.#byTag.get(tag);
        if (ids === undefined) this.#byTag.set(tag, (ids = new Set()));
        ids.add(waiter.userId);
      }
    }
    return null;
  }

  /** An asker: the two longest-waiting willing users it may meet (and who may meet each other), or queued. */
  #ask(asker: Waiter): Match | null {
    let first: Waiter | undefined;
    let n = 0;
    for (const id of this.#willing) {
      if (++n > QUESTION_SCAN) break;
      const c = this.waiters.get(id)!;
      if (!allowed(asker, c)) continue;
      if (first === undefined) {
        first = c;
        continue;
      }
      if (!allowed(first, c)) continue;
      this.remove(first.userId);
      this.remove(c.userId);
      return { partner: first, common: [], question: { asker, discussers: [first, c] } };
    }
    this.#askers.set(asker.userId, asker);
    return null;
  }

  /** A willing caller: the longest-waiting question it can serve with another willing waiter. */
  #serveQuestion(me: Waiter): Match | null {
    let a = 0;
    for (const asker of this.#askers.values()) {
      if (++a > QUESTION_SCAN) break;
      if (!allowed(asker, me)) continue;
      let n = 0;
      for (const id of this.#willing) {
        if (++n > QUESTION_SCAN) break;
        const c = this.waiters.get(id)!;
        if (!allowed(asker, c) || !allowed(me, c)) continue;
        this.remove(asker.userId);
        this.remove(c.userId);
        return { partner: c, common: [], question: { asker, discussers: [c, me] } };
      }
    }
    return null;
  }

  remove(userId: string): boolean {
    if (this.#askers.delete(userId)) return true;
    const w = this.waiters.get(userId);
    if (w === undefined) return false;
    this.waiters.delete(userId);
    this.#willing.delete(userId);
    if (w.interests.length === 0) {
      this.#plain.delete(userId);
    } else {
      this.#tagged.delete(userId);
      for (const tag of w.interests) {
        const ids = this.#byTag.get(tag);
        if (ids === undefined) continue;
        ids.delete(userId);
        if (ids.size === 0) this.#byTag.delete(tag);
      }
    }
    return true;
  }

  /** Every waiter and asker, for dropping a node's. */
  *all(): IterableIterator<Waiter> {
    yield* this.waiters.values();
    yield* this.#askers.values();
  }
}

/**
 * The waiting queue shared by every engine of a hub: one {@link LangQueue} per language class
 * (no language is the class ''). Synchronous, hence trivially atomic.
 */
export class MemoryQueue {
  readonly #byLang = new Map<string, LangQueue>();
  /** userId -> its language class, for `remove`. */
  readonly #langOf = new Map<string, string>();

  get size(): number {
    return this.#langOf.size;
  }

  /** Waiting users (askers included) per language class ('' for none), for tests and stats. */
  sizes(): Map<string, number> {
    const out = new Map<string, number>();
    for (const lang of this.#langOf.values()) out.set(lang, (out.get(lang) ?? 0) + 1);
    return out;
  }

  pair(waiter: Waiter, now: number): Match | null {
    // A user is in the queue at most once: a repeated call replaces the old entry.
    this.remove(waiter.userId);
    const lang = waiter.lang ?? '';
    let q = this.#byLang.get(lang);
    if (q === undefined) this.#byLang.set(lang, (q = new LangQueue()));
    const m = q.pair(waiter, now);
    if (m === null) {
      this.#langOf.set(waiter.userId, lang);
      return null;
    }
    this.#langOf.delete(m.partner.userId);
    if (m.question !== undefined) for (const w of [m.question.asker, ...m.question.discussers]) this.#langOf.delete(w.userId);
    if (q.empty) this.#byLang.delete(lang);
    return m;
  }

  remove(userId: string): boolean {
    const lang = this.#langOf.get(userId);
    if (lang === undefined) return false;
    this.#langOf.delete(userId);
    const q = this.#byLang.get(lang);
    if (q === undefined) return false;
    const was = q.remove(userId);
    if (q.empty) this.#byLang.delete(lang);
    return was;
  }

  /** Drops every waiter of a node (the node left). O(waiters), only on node exit. */
  removeNode(nodeId: string): void {
    for (const q of [...this.#byLang.values()]) for (const w of [...q.all()]) if (w.nodeId === nodeId) this.remove(w.userId);
  }
}

/** State shared by the engines of one simulated cluster. */
export class MemoryHub {
  readonly queue = new MemoryQueue();
  readonly moderation = new MemoryModerationStore();
  /** Started engines by node id. */
  readonly nodes = new Map<string, MemoryEngine>();
  readonly reports = new Map<string, NodeCounts>();
  /** The session gate's marks and counters, shared like everything else of the cluster. */
  readonly gate = new MemoryGateStore();
}

export interface MemoryEngineOptions {
  /** Share a hub to simulate several nodes in one process. @default a new hub */
  hub?: MemoryHub;
  /** @default a random id */
  nodeId?: string;
}

/** The embedded engine. See {@link Engine} for the contract. */
export class MemoryEngine implements Engine {
  readonly nodeId: string;
  readonly queue: MatchQueue;
  readonly relay: Relay;
  readonly presence: Presence;
  readonly moderation: ModerationStore;
  readonly gate: MemoryGateStore;
  readonly #hub: MemoryHub;
  #listener: EngineListener | undefined;
  /** Inbound relay events, delivered in order by one scheduled flush (no closure per event). */
  #inbox: RelayEvent[] = [];
  #spare: RelayEvent[] = [];
  #flushScheduled = false;
  #downs: string[] = [];
  /** Relay events sent to a node that is not started (lost, as the contract allows). */
  dropped = 0;

  constructor(options: MemoryEngineOptions = {}) {
    this.#hub = options.hub ?? new MemoryHub();
    this.nodeId = options.nodeId ?? randomUUID();
    const hub = this.#hub;
    this.gate = hub.gate;
    const self = this;
    this.moderation = hub.moderation;
    this.queue = {
      pairOrEnqueue: (waiter, now) => Promise.resolve(hub.queue.pair(waiter, now)),
      remove: (userId) => Promise.resolve(hub.queue.remove(userId)),
    };
    this.relay = {
      send(nodeId, event) {
        const target = hub.nodes.get(nodeId);
        if (target === undefined) self.dropped++;
        else target.#deliver(event);
      },
    };
    this.presence = {
      report: (counts) => {
        if (hub.nodes.has(this.nodeId)) hub.reports.set(this.nodeId, { ...counts });
      },
      counts: () => {
        const langs: Record<string, number> = {};
        const sum: NodeCounts = { online: 0, searching: 0, chatting: 0, langs };
        for (const c of hub.reports.values()) {
          sum.online += c.online;
          sum.searching += c.searching;
          sum.chatting += c.chatting;
          addLanguages(langs, c.langs);
        }
        return sum;
      },
    };
  }

  ready(): boolean {
    return true;
  }

  start(listener: EngineListener): Promise<void> {
    this.#listener = listener;
    this.#hub.nodes.set(this.nodeId, this);
    this.#hub.reports.set(this.nodeId, { online: 0, searching: 0, chatting: 0 });
    return Promise.resolve();
  }

  close(): Promise<void> {
    const hub = this.#hub;
    if (hub.nodes.get(this.nodeId) === this) {
      hub.nodes.delete(this.nodeId);
      hub.reports.delete(this.nodeId);
      hub.queue.removeNode(this.nodeId);
      for (const other of hub.nodes.values()) other.#nodeDown(this.nodeId);
    }
    this.#listener = undefined;
    this.#inbox.length = 0;
    return Promise.resolve();
  }

  #deliver(event: RelayEvent): void {
    this.#inbox.push(event);
    this.#schedule();
  }

  #nodeDown(nodeId: string): void {
    this.#downs.push(nodeId);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const batch = this.#inbox;
    this.#inbox = this.#spare;
    const downs = this.#downs;
    this.#downs = [];
    const listener = this.#listener;
    if (listener !== undefined) {
      // Events first: they were sent before the node went down.
      for (let i = 0; i < batch.length; i++) {
        try {
          listener.onRelay(batch[i]!);
        } catch {
          // A listener bug must not lose the rest of the batch.
        }
      }
      for (const id of downs) listener.onNodeDown(id);
    }
    batch.length = 0;
    this.#spare = batch;
  };
}

/** Creates an in-memory engine (its own hub unless one is given). */
export function createMemoryEngine(options: MemoryEngineOptions = {}): MemoryEngine {
  return new MemoryEngine(options);
}
