/**
 * The chat service: sessions, matchmaking rules and relay, on top of an {@link Engine} and a
 * {@link Peer} per connection. Knows nothing of frames or sockets.
 *
 * Relay is local-first: a partner on this node is reached directly through its session; only
 * cross-node traffic goes through `engine.relay`.
 *
 * Matching races (engine calls are asynchronous): a session is marked `queued` before the call
 * that may enqueue it, so a concurrent pairing that takes it can be told apart from a stale one;
 * a `remove` that returns false means a `matched` is on its way (`expectMatch`), and the session
 * does not queue again until it arrives (or `staleMatchTimeoutMs`). A local pairing that finds
 * its partner no longer searching simply tries the queue again.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Engine, EngineListener, NodeCounts, QuestionMatch, RelayEvent, Waiter } from '../engine/engine.js';
import { EndReason, matchedEvent, questionEvents, type ReportReason } from '../engine/engine.js';
import { ErrorCode, ServerMessage, parseClientMessage, type ParseError } from './codec.js';
import { conversationBoundsMs, durationHistogram, matchWaitBoundsMs, observe, type DurationHistogram } from './histogram.js';
import { normalizeInterests, sameInterests } from './interests.js';
import { Moderation, RecentTexts, looksLikeAdvertising, textKey } from './moderation.js';
import { defaultChatOptions, type ChatOptions } from './options.js';
import { StrikeCounter, TokenBucket } from './rate.js';
import { QuestionSeat, Questions } from './question.js';
import { LanguageCounts } from './languages.js';
import { AWAY, Hold, Session, SessionState } from './session.js';
import { Receipts, parseResumeToken, readHandover, resumeKey, resumeMacValid, resumeToken, type Handover, type ReceiptLimits } from './resume.js';
import { ChatCloseCode, type Peer } from './transport.js';

/** The subset of a pino logger the chat uses. */
export interface ChatLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const silent: ChatLogger = { warn() {}, error() {} };


/** The other side of a conversation, as the queue or a `matched` event names it. */
type PartnerRef = Pick<Waiter, 'userId' | 'nodeId' | 'person' | 'address'>;

/** The avoid list of a user who skipped no one yet. */
const NO_ONE: readonly string[] = Object.freeze([]);
/** Relay events kept for a question conversation that has not begun yet (see `Session.early`). */
const MAX_EARLY = 64;

/**
 * Running totals of this node, plain integers bumped on the hot path and read by the metrics
 * endpoint at scrape time (src/http/metrics.ts).
 */
export interface ChatStats {
  /** Chat lines relayed, to a partner on this node or on another. */
  messagesLocal: number;
  messagesRemote: number;
  /** Users told `matched` on this node (a pair on one node counts 2). */
  matched: number;
  /** `ended` messages sent to users on this node, by reason. */
  ended: Record<EndReason, number>;
  /** `error` messages sent, by code. */
  errors: Record<ErrorCode, number>;
  /** `find` to `matched` of users on this node, with a shared interest (`shared`) or not. */
  matchWait: { shared: DurationHistogram; unshared: DurationHistogram };
  /** How long users on this node stayed in a conversation (each side counts once, on its node). */
  conversation: DurationHistogram;
  /** `next` in a conversation (the user skipped the partner), on this node. */
  skips: number;
  /** Resumes answered on this node: taken over, refused; held places whose window closed. */
  resumes: { resumed: number; failed: number; expired: number };
  /** Searches stopped before a match by `leave` or by disconnecting. */
  searchesAbandoned: number;
}

export class ChatService {
  readonly options: Readonly<ChatOptions>;
  readonly stats: ChatStats = {
    messagesLocal: 0,
    messagesRemote: 0,
    matched: 0,
    ended: { skipped: 0, left: 0, disconnected: 0, shutdown: 0 },
    errors: Object.fromEntries(Object.values(ErrorCode).map((code) => [code, 0])) as Record<ErrorCode, number>,
    matchWait: { shared: durationHistogram(matchWaitBoundsMs), unshared: durationHistogram(matchWaitBoundsMs) },
    conversation: durationHistogram(conversationBoundsMs),
    skips: 0,
    resumes: { resumed: 0, failed: 0, expired: 0 },
    searchesAbandoned: 0,
  };
  readonly engine: Engine;
  readonly moderation: Moderation;
  readonly #sessions = new Map<string, Session>();
  /** Spam waves this node knows of: person + text key -> end of the window (swept each second). */
  readonly #waves = new Map<string, number>();
  readonly #log: ChatLogger;
  readonly #resumeKey: Buffer;
  readonly #limits: ReceiptLimits;
  /** Sessions resumed elsewhere: relay events still addressed to them are sent on (old id -> new). */
  readonly #forward = new Map<string, { id: string; node: string; until: number }>();
  /** Whether a resume must come from the same person (sessions on): without them, a connection is its own person. */
  readonly #samePerson: boolean;
  /** Question mode: seats, its wire messages and the routing between the three members. */
  readonly #questions: Questions;
  /** Searching users of this node by language. */
  readonly #langs = new LanguageCounts();
  #searching = 0;
  #chatting = 0;
  #draining = false;
  #presenceTimer: NodeJS.Timeout | undefined;
  /** The counts last published, to correct the cluster sum with this node's live counts. */
  #reported: NodeCounts = { online: 0, searching: 0, chatting: 0 };

  /**
   * @param secret the cluster secret (resume tokens are keyed by it); random when absent (one process).
   * @param samePerson a resume is accepted only from the same person (with anonymous sessions).
   */
  constructor(engine: Engine, options: Partial<ChatOptions> = {}, log: ChatLogger = silent, secret?: string, samePerson = false) {
    this.engine = engine;
    this.options = { ...defaultChatOptions, ...options };
    this.moderation = new Moderation(engine.moderation, this.options);
    this.#log = log;
    this.#resumeKey = resumeKey(secret ?? randomBytes(32).toString('base64url'));
    this.#limits = { maxMessages: this.options.maxUnacked, maxChars: this.options.maxUnackedChars };
    this.#samePerson = samePerson;
    // Question traffic to a member on this node is handled at once (local first), else relayed.
    this.#questions = new Questions({
      send: (node, event) => (node === this.engine.nodeId ? this.#onRelay(event) : this.engine.relay.send(node, event)),
    });
  }

  /** Starts the engine and the presence reports. */
  async start(): Promise<void> {
    const listener: EngineListener = {
      onRelay: (e) => this.#onRelay(e),
      onNodeDown: (id) => this.#onNodeDown(id),
    };
    await this.engine.start(listener);
    this.#publish();
    this.#presenceTimer = setInterval(() => this.#publish(), this.options.presenceIntervalMs);
    this.#presenceTimer.unref();
  }

  /** This node's counts. */
  counts(): NodeCounts {
    return { online: this.#sessions.size, searching: this.#searching, chatting: this.#chatting, langs: this.#langs.top() };
  }

  /** Cluster-wide counts: the engine's sum, with this node's share replaced by its live counts. */
  clusterCounts(): NodeCounts {
    const all = this.engine.presence.counts();
    const mine = this.counts();
    const r = this.#reported;
    return {
      online: Math.max(mine.online, all.online - r.online + mine.online),
      searching: Math.max(mine.searching, all.searching - r.searching + mine.searching),
      chatting: Math.max(mine.chatting, all.chatting - r.chatting + mine.chatting),
      langs: LanguageCounts.cluster(all.langs, r.langs, mine.langs),
    };
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** This node's sessions, for inspection (tests, debugging); do not mutate them. */
  sessions(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  /**
   * A new connection: creates its session and greets it. `address` is the key of the client's
   * address (identity.ts), never the address itself; `person` is who skips and bans apply to
   * (the anonymous session's person id), by default this connection alone.
   */
  connect(peer: Peer, address: string, person?: string): Session {
    const id = randomUUID();
    const s = new Session(id, peer, person ?? id, address);
    this.#sessions.set(s.id, s);
    peer.send(ServerMessage.welcome(s.id, this.clusterCounts().online, resumeToken(this.#resumeKey, this.engine.nodeId, s.id)));
    return s;
  }

  /** One message from the client (text frames; `binary` true for binary frames, which are refused). */
  receive(s: Session, data: string | Buffer, binary = false): void {
    if (s.closed) return;
    const now = Date.now();
    if (binary) return this.#reject(s, { type: 'error', code: ErrorCode.badMessage, detail: 'binary frame' }, now);
    const m = parseClientMessage(data, this.options.maxMessageChars);
    if (m.type === 'error') return this.#reject(s, m, now);
    // `leave` is never rate limited: a client must always be able to stop. One that changes
    // nothing counts toward the flood guard like a rejected message (a flood of them closes 1008).
    const o = this.options;
    if (m.type === 'leave' && s.state === SessionState.idle) return void this.#strike(s, now);
    if (m.type !== 'leave' && o.rateLimit > 0 && !(s.bucket ??= new TokenBucket(o.rateLimit, o.rateBurst, now)).take(now)) {
      return this.#reject(s, { type: 'error', code: ErrorCode.rateLimited, detail: '' }, now);
    }
    switch (m.type) {
      case 'msg':
        if (s.state !== SessionState.chatting) return this.#error(s, ErrorCode.notMatched);
        if (s.q?.role === 0) return this.#error(s, ErrorCode.notAllowed);
        return this.#say(s, m.text, now);
      case 'typing':
        // Typing while not matched is a harmless race (the partner just left): ignored.
        if (s.state !== SessionState.chatting) return;
        if (s.q?.role === 0) return this.#error(s, ErrorCode.notAllowed);
        if (s.partner !== undefined) s.partner.peer.send(m.on ? ServerMessage.typingOn : ServerMessage.typingOff);
        else this.engine.relay.send(s.partnerNode, { kind: 'typing', to: s.partnerId, from: s.id, on: m.on });
        if (s.q !== undefined) this.#questions.typing(s, m.on);
        return;
      case 'find':
        return this.#find(s, m.interests, m.lang, m.questions, now);
      case 'ask':
        return this.#ask(s, m.question, m.lang, now);
      case 'next':
        return this.#next(s, now);
      case 'leave':
        return this.#leave(s);
      case 'report':
        return this.#report(s, m.reason, m.from, now);
      case 'ack':
        return this.#ack(s, m.seq);
      case 'resume':
        return this.#resume(s, m.token);
    }
  }

  /**
   * The connection `peer` of session `s` is gone. A user in a conversation or a search keeps its
   * place for the resume window: the search stops (and restarts on resume), a partner is told
   * `away`. Without a window, for an idle user, or when the window closes, the conversation ends
   * (`disconnected`) and the session is forgotten.
   */
  disconnect(s: Session, peer: Peer = s.peer): void {
    if (s.closed || s.peer !== peer) return; // a resume took the place over already
    const window = this.options.resumeWindowMs;
    // Only a place worth coming back to is held: a conversation, or a search. A question
    // conversation is not held: its member leaves at once (docs/protocol.md).
    if (window > 0 && s.state !== SessionState.idle && s.q === undefined && (s.hold & Hold.resuming) === 0) {
      s.peer = AWAY;
      if (s.state === SessionState.searching) {
        this.#stopSearch(s);
        s.hold |= Hold.wasSearching;
      } else if (s.state === SessionState.chatting) {
        if (s.partner !== undefined) this.#partnerAway(s.partner);
        else this.engine.relay.send(s.partnerNode, { kind: 'away', to: s.partnerId, from: s.id });
      }
      this.#setTimer(s, this.#onHoldExpired, window);
      return;
    }
    this.#forget(s);
  }

  /** Ends what the session was doing and drops it. */
  #forget(s: Session): void {
    if (s.closed) return;
    if (s.state === SessionState.chatting) this.#endWith(s, EndReason.disconnected);
    else if (s.state === SessionState.searching) {
      this.stats.searchesAbandoned++;
      this.#stopSearch(s);
    } else if ((s.hold & Hold.wasSearching) !== 0) {
      this.stats.searchesAbandoned++; // a held search nobody came back to
    }
    s.closed = true;
    this.#clearTimer(s);
    this.#sessions.delete(s.id);
  }

  readonly #onHoldExpired = (s: Session): void => {
    s.timer = undefined;
    if (s.peer !== AWAY) return;
    this.stats.resumes.expired++;
    this.#forget(s);
  };

  /** Places held for a resume on this node. */
  held(): number {
    let n = 0;
    for (const s of this.#sessions.values()) if (s.peer === AWAY) n++;
    return n;
  }

  /**
   * Deploy without ending conversations: refuses new searches (the caller closes every
   * connection with 1012, so every place becomes held), then resolves once every held place was
   * resumed (handed over to another node) or its window closed, or at `deadline` (ms).
   */
  async handOver(deadline: number): Promise<void> {
    this.#draining = true;
    while (this.#sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }

  /**
   * Drain: refuses new searches, tells every matched user `shutdown` (a partner on another node
   * gets `disconnected`), stops every search and leaves the cluster. Closing the connections
   * (1001) is the transport's job.
   */
  async shutdown(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    if (this.#presenceTimer !== undefined) clearInterval(this.#presenceTimer);
    for (const s of this.#sessions.values()) {
      if (s.state === SessionState.chatting) {
        this.stats.ended.shutdown++;
        s.peer.send(ServerMessage.ended.shutdown);
        if (s.q?.role === 0) {
          this.#questions.askerLeft(s);
          this.#setState(s, SessionState.idle);
          continue;
        }
        if (s.q !== undefined) this.#questions.discusserEnded(s, EndReason.disconnected);
        const p = s.partner;
        if (p !== undefined) {
          this.#setState(s, SessionState.idle);
          this.stats.ended.shutdown++;
          p.peer.send(ServerMessage.ended.shutdown);
          this.#setState(p, SessionState.idle);
        } else {
          this.engine.relay.send(s.partnerNode, { kind: 'ended', to: s.partnerId, from: s.id, reason: EndReason.disconnected });
          this.#setState(s, SessionState.idle);
        }
      } else if (s.state === SessionState.searching) {
        this.#stopSearch(s);
      }
    }
    try {
      await this.engine.close();
    } catch (err) {
      this.#log.error({ err }, 'engine close failed');
    }
  }

  // ---- client commands ----

  #find(s: Session, raw: readonly string[], lang: string, questions: boolean, now: number): void {
    if (s.state === SessionState.chatting) return this.#error(s, ErrorCode.alreadyMatched);
    const interests = normalizeInterests(raw, this.options.maxInterests, this.options.maxInterestChars);
    if (s.state === SessionState.searching) {
      if (s.question === undefined && sameInterests(interests, s.interests) && s.lang === lang && s.questions === questions) {
        s.peer.send(ServerMessage.searching);
        return;
      }
      this.#stopSearch(s); // a new search: from the start
    }
    s.interests = interests;
    s.lang = lang;
    s.questions = questions;
    s.question = undefined;
    this.#startSearch(s, now);
  }

  /** `ask`: searches two strangers to discuss `question` (in `lang`'s class); the asker watches. */
  #ask(s: Session, question: string, lang: string, now: number): void {
    if (s.state === SessionState.chatting) return this.#error(s, ErrorCode.alreadyMatched);
    if (s.state === SessionState.searching) {
      if (s.question === question && s.lang === lang) {
        s.peer.send(ServerMessage.searching);
        return;
      }
      this.#stopSearch(s);
    }
    s.interests = NO_ONE;
    s.lang = lang;
    s.questions = false;
    s.question = question;
    this.#startSearch(s, now);
  }

  #next(s: Session, now: number): void {
    if (s.state === SessionState.searching) {
      s.peer.send(ServerMessage.searching);
      return;
    }
    if (s.state === SessionState.chatting) {
      // Kept apart both ways: here at once, and cluster-wide for `skipMemoryMs` through the store.
      // An asker's `next` skips both discussers (and asks again); a discusser's, the other one.
      this.stats.skips++;
      const skipped = s.q?.role === 0 ? [s.q.members[1].person, s.q.members[2].person] : [s.partnerPerson];
      for (const person of skipped) {
        s.remember(person, this.options.noRepeat);
        this.moderation.skip(s.person, person, now).catch((err: unknown) => this.#log.warn({ err: String(err) }, 'skip not recorded'));
      }
      this.#endWith(s, EndReason.skipped);
    }
    this.#startSearch(s, now);
  }

  #leave(s: Session): void {
    if (s.state === SessionState.chatting) this.#endWith(s, EndReason.left);
    else if (s.state === SessionState.searching) {
      this.stats.searchesAbandoned++;
      this.#stopSearch(s);
    }
  }

  #report(s: Session, reason: ReportReason, from: number, now: number): void {
    if (s.state !== SessionState.chatting) return this.#error(s, ErrorCode.notMatched);
    const q = s.q;
    const targets = q === undefined ? null : this.#questions.reportTargets(q, from);
    if (q !== undefined && targets !== null) {
      // The evidence, seen from the reporter: the asker's own words are its question; a
      // discusser reporting the asker gives the question as the asker's words.
      const at = s.receipts?.since ?? now;
      for (const { target, slot } of targets) {
        let log;
        if (q.role === 0) {
          log = this.moderation.keep(undefined, true, q.question, at);
          for (const l of q.logs[slot - 1]?.lines() ?? []) log = this.moderation.keep(log, false, l.text, l.at);
        } else {
          log = this.moderation.keep(undefined, false, q.question, at);
        }
        this.#reportOne(target, s, reason, log, now);
      }
      s.peer.send(ServerMessage.reported);
      return;
    }
    const target = { person: s.partnerPerson, address: s.receipts?.partnerAddress ?? '' };
    this.#reportOne(target, s, reason, s.receipts?.log, now);
    s.peer.send(ServerMessage.reported);
  }

  #reportOne(target: { person: string; address: string }, s: Session, reason: ReportReason, log: Parameters<Moderation['report']>[3], now: number): void {
    this.moderation.report(target, s, reason, log, now).then(
      // Never log who: person ids, address keys and chat text stay out of logs.
      (until) => {
        if (until > 0) this.#log.warn({ event: 'banned', minutes: Math.round((until - now) / 60_000) }, 'user banned after reports');
      },
      (err: unknown) => this.#log.warn({ err: String(err) }, 'report not recorded'),
    );
  }

  /**
   * Relays one chat line, unless it is a copy of a spam wave (dropped, silently).
   *
   * Off the hot path: a node remembers the first partner each advertising-like text of a person
   * went to, and tells the store only from the second partner on (with the first), so ordinary
   * chat never costs a store call. The store counts partners cluster-wide; once a text reached
   * `spamPartners` of them, this node drops further copies to new partners at once.
   */
  #say(s: Session, text: string, now: number): void {
    if (looksLikeAdvertising(text, this.options.spamMinChars)) {
      const key = textKey(text);
      // A text's first partner costs nothing; from its second, the store counts its partners
      // cluster-wide (given the first), and this node learns of a wave.
      const partners = (s.copies ??= new RecentTexts()).add(key, s.partnerPerson);
      if (partners !== undefined) {
        const waveKey = `${s.person}\0${key}`;
        const wave = this.#waves.get(waveKey);
        if (wave !== undefined && wave > now) {
          s.copies.undo(key, s.partnerPerson);
          this.moderation.spamCopy(s, s.partnerPerson, key, text, now).catch(() => {}); // opens the case
          return; // dropped, silently
        }
        this.moderation.spamCopy(s, s.partnerPerson, key, text, now, partners[0]).then(
          (n) => {
            if (n === 0 || n >= this.options.spamPartners) this.#waves.set(waveKey, now + this.options.spamWindowMs);
          },
          () => {}, // the store is down: chat goes on
        );
      }
    }
    const mine = (s.receipts ??= new Receipts());
    mine.log = this.moderation.keep(mine.log, true, text, now);
    const n = ++mine.fromSeq;
    if (s.partner !== undefined) {
      this.stats.messagesLocal++;
      this.#deliver(s.partner, text, n, now);
    } else {
      this.stats.messagesRemote++;
      this.engine.relay.send(s.partnerNode, { kind: 'msg', to: s.partnerId, from: s.id, text, n });
    }
    if (s.q !== undefined) this.#questions.echo(s, text, n);
  }

  /**
   * Gives user `p` its partner's line number `n` (0: unnumbered), as its next `seq`: kept for
   * replay when its client acknowledges or while it is away. Lines that arrive ahead of their
   * turn (the partner resumed on another node while earlier lines were still on their way)
   * wait for the missing ones, at most `resumeTimeoutMs`.
   */
  #deliver(p: Session, text: string, n: number, now: number): void {
    const r = (p.receipts ??= new Receipts());
    if (n > 0) {
      if (n < r.nextFromPartner) return; // a copy (sent on by the node the partner left)
      if (n > r.nextFromPartner) {
        if ((r.early ??= new Map()).size === 0) setTimeout(this.#flushEarly, this.options.resumeTimeoutMs, p, r).unref();
        if (r.early.size < this.#limits.maxMessages) r.early.set(n, text);
        return;
      }
      r.nextFromPartner = n + 1;
    }
    const seq = ++r.toSeq;
    // Kept for a replay: everything unacknowledged from a client that acks, or while it is away.
    // From one that has not acked yet, the conversation's evidence is the replay source (its last
    // 20 lines carry their seq): a client that never acks costs nothing more than before.
    if (r.acking || p.peer === AWAY) r.keep(seq, text, this.#limits);
    r.log = this.moderation.keep(r.log, false, text, now, seq);
    p.peer.send(ServerMessage.msg(text, seq));
    const early = r.early;
    if (early !== undefined && early.size > 0) {
      const next = early.get(r.nextFromPartner);
      if (next !== undefined) {
        early.delete(r.nextFromPartner);
        this.#deliver(p, next, r.nextFromPartner, now);
      }
    }
  }

  /** Lines still waiting for a missing one: the missing one is lost (relay is at-most-once), go on. */
  readonly #flushEarly = (p: Session, r: Receipts): void => {
    const early = r.early;
    if (early === undefined || early.size === 0 || p.receipts !== r || p.closed) return;
    const first = Math.min(...early.keys());
    r.nextFromPartner = first;
    const text = early.get(first)!;
    early.delete(first);
    this.#deliver(p, text, first, Date.now());
    if (early.size > 0) setTimeout(this.#flushEarly, this.options.resumeTimeoutMs, p, r).unref();
  };

  /** `ack`: everything up to `seq` reached this user's client; its partner hears `delivered`. */
  #ack(s: Session, seq: number): void {
    const r = s.receipts;
    if (s.state !== SessionState.chatting || s.q?.role === 0 || r === undefined || !r.ack(seq)) return;
    if (s.partner !== undefined) this.#delivered(s.partner, seq);
    else this.engine.relay.send(s.partnerNode, { kind: 'delivered', to: s.partnerId, from: s.id, seq });
  }

  #delivered(p: Session, seq: number): void {
    const r = (p.receipts ??= new Receipts());
    if (seq <= r.delivered) return;
    r.delivered = seq;
    p.peer.send(ServerMessage.delivered(seq));
  }

  #partnerAway(p: Session): void {
    p.hold |= Hold.partnerAway;
    p.peer.send(ServerMessage.away);
  }

  #partnerBack(p: Session): void {
    if ((p.hold & Hold.partnerAway) === 0) return;
    p.hold &= ~Hold.partnerAway;
    p.peer.send(ServerMessage.back);
  }

  // ---- resume ----

  /** `resume`: this connection takes over the place the token names, on this node or another. */
  #resume(s: Session, token: string): void {
    const t = parseResumeToken(token);
    if (t === null || s.state !== SessionState.idle || (s.hold & Hold.resuming) !== 0 || s.receipts !== undefined) return this.#resumeFailed(s);
    if (t.nodeId !== this.engine.nodeId) {
      // The holder decides; it answers `handover` or `resume_failed` (or nothing, if it is gone).
      s.hold |= Hold.resuming;
      this.engine.relay.send(t.nodeId, { kind: 'resume', to: t.sessionId, from: s.id, fromNode: this.engine.nodeId, mac: t.mac, person: s.person });
      setTimeout(this.#onResumeTimeout, this.options.resumeTimeoutMs, s).unref();
      return;
    }
    const place = this.#placeFor(t.sessionId, t.mac, s.person);
    if (place === undefined || place === s) return this.#resumeFailed(s);
    const h = this.#takePlace(place);
    this.#adopt(s, h);
    this.#announceMove(h, place.id, s.id, this.engine.nodeId);
  }

  readonly #onResumeTimeout = (s: Session): void => {
    if ((s.hold & Hold.resuming) === 0 || s.closed) return;
    s.hold &= ~Hold.resuming;
    this.#resumeFailed(s);
  };

  #resumeFailed(s: Session): void {
    this.stats.resumes.failed++;
    this.#error(s, ErrorCode.resumeFailed);
  }

  /** The held (or connected) place `id` on this node, if the token's MAC and the person match. */
  #placeFor(id: string, mac: string, person: string): Session | undefined {
    const place = this.#sessions.get(id);
    if (place === undefined || place.closed || place.q !== undefined || (place.hold & Hold.resuming) !== 0) return undefined;
    if (!resumeMacValid(this.#resumeKey, this.engine.nodeId, id, mac)) return undefined;
    if (this.#samePerson && place.person !== person) return undefined;
    return place;
  }

  /**
   * Takes `place` out of service: its connection (if still open) is closed, its search stopped,
   * its conversation detached (the partner is re-pointed by {@link #announceMove}); returns what
   * the new session adopts.
   */
  #takePlace(place: Session): Handover {
    const wasAway = place.peer === AWAY;
    const old = place.peer;
    place.peer = AWAY; // its disconnect (the old connection closing) is now ignored
    if (!wasAway) old.close(ChatCloseCode.replaced, 'resumed elsewhere');
    const r = place.receipts;
    const searching = place.state === SessionState.searching || (place.hold & Hold.wasSearching) !== 0;
    const h: Handover = {
      ended: r?.ended ?? '',
      since: r?.since ?? Date.now(),
      state: place.state === SessionState.chatting ? 'chatting' : searching ? 'searching' : 'idle',
      interests: place.interests,
      recent: place.recent ?? [],
      partnerId: place.partnerId,
      partnerNode: place.partnerNode,
      partnerPerson: place.partnerPerson,
      partnerAddress: r?.partnerAddress ?? '',
      common: r?.common ?? [],
      toSeq: r?.toSeq ?? 0,
      fromSeq: r?.fromSeq ?? 0,
      nextFromPartner: r?.nextFromPartner ?? 1,
      delivered: r?.delivered ?? 0,
      acking: r?.acking ?? false,
      partnerAway: (place.hold & Hold.partnerAway) !== 0,
      pending: r === undefined ? [] : unacknowledged(r, this.#limits.maxMessages),
      person: place.person,
      search: place.question === undefined ? { lang: place.lang, questions: place.questions } : { lang: place.lang, questions: false, question: place.question },
    };
    if (place.state === SessionState.searching) this.#stopSearch(place);
    const p = place.partner;
    // The conversation goes on in the new session: not an end (for the metrics either).
    if (place.state === SessionState.chatting) this.#setState(place, SessionState.idle, true);
    if (p !== undefined) p.partner = undefined; // re-linked by #announceMove
    place.closed = true;
    this.#clearTimer(place);
    this.#sessions.delete(place.id);
    return h;
  }

  /** Session `s` (new, idle) becomes the place described by `h`. */
  #adopt(s: Session, h: Handover): void {
    const now = Date.now();
    this.stats.resumes.resumed++;
    s.person = h.person;
    s.interests = h.interests;
    if (h.search !== undefined) {
      s.lang = h.search.lang;
      s.questions = h.search.questions;
      s.question = h.search.question;
    }
    if (h.recent.length > 0) s.recent = [...h.recent];
    const token = resumeToken(this.#resumeKey, this.engine.nodeId, s.id);
    if (h.state !== 'chatting') {
      s.peer.send(ServerMessage.resumed(h.state, token, undefined));
      // The conversation ended while the user was away: what it missed of it, then why it ended.
      for (const [seq, text] of h.pending) s.peer.send(ServerMessage.msg(text, seq));
      if (h.ended !== '' && Object.hasOwn(ServerMessage.ended, h.ended)) s.peer.send(ServerMessage.ended[h.ended as EndReason]);
      if (h.state === 'searching' && !this.#draining) this.#startSearch(s, now);
      return;
    }
    this.#setState(s, SessionState.chatting);
    s.partnerId = h.partnerId;
    s.partnerNode = h.partnerNode;
    s.partnerPerson = h.partnerPerson;
    const r = (s.receipts = new Receipts());
    r.since = h.since;
    r.partnerAddress = h.partnerAddress;
    r.common = h.common;
    r.toSeq = h.toSeq;
    r.fromSeq = h.fromSeq;
    r.nextFromPartner = h.nextFromPartner;
    r.delivered = h.delivered;
    r.acking = h.acking;
    s.peer.send(ServerMessage.resumed('chatting', token, h.common, h.fromSeq));
    for (const [seq, text] of h.pending) {
      r.keep(seq, text, this.#limits);
      s.peer.send(ServerMessage.msg(text, seq));
    }
    if (r.pending.length > 0) r.acked = r.pendingBase - 1;
    if (h.delivered > 0) s.peer.send(ServerMessage.delivered(h.delivered));
    if (h.partnerAway) this.#partnerAway(s);
  }

  /** Tells the partner of a moved place where it is now (and `back`, if it was away). */
  #announceMove(h: Handover, oldId: string, newId: string, newNode: string): void {
    if (h.state !== 'chatting') return;
    this.#forward.set(oldId, { id: newId, node: newNode, until: Date.now() + Math.max(this.options.resumeWindowMs, 10_000) });
    if (h.partnerNode === this.engine.nodeId) this.#moved(this.#sessions.get(h.partnerId), oldId, newId, newNode);
    else this.engine.relay.send(h.partnerNode, { kind: 'moved', to: h.partnerId, from: oldId, newId, newNode });
  }

  /** Partner `oldId` of `p` is now `newId` on `newNode`. */
  #moved(p: Session | undefined, oldId: string, newId: string, newNode: string): void {
    if (p === undefined || p.closed || p.state !== SessionState.chatting || p.partnerId !== oldId) return;
    p.partnerId = newId;
    p.partnerNode = newNode;
    if (newNode === this.engine.nodeId) {
      const s = this.#sessions.get(newId);
      if (s !== undefined && s.state === SessionState.chatting && s.partnerId === p.id) {
        p.partner = s;
        s.partner = p;
      }
    } else {
      p.partner = undefined;
    }
    this.#partnerBack(p);
  }

  // ---- searching ----

  #startSearch(s: Session, now: number): void {
    if (this.#draining) return this.#error(s, ErrorCode.shuttingDown);
    if (!this.engine.ready()) return this.#error(s, ErrorCode.engineUnavailable);
    this.#setState(s, SessionState.searching);
    s.since = now;
    s.anyoneAfter = s.interests.length > 0 ? now + this.options.interestWaitMs : now;
    s.peer.send(ServerMessage.searching);
    // Bans and skips live in the engine (cluster-wide): ask before queueing. A banned person
    // hears `banned` right after `searching`, and the search stops.
    const seq = s.seq;
    s.hold += 1 << Hold.checkShift;
    this.moderation.checkSearch(s.person, s.address, now).then(
      (check) => {
        s.hold -= 1 << Hold.checkShift;
        if (s.closed || s.state !== SessionState.searching) return;
        if (s.seq !== seq) {
          // A newer search began meanwhile; it answered (or will), this one only unblocks the queue.
          if (s.checking === 0) this.#enqueue(s, Date.now());
          return;
        }
        if (check.bannedUntil > Date.now()) {
          this.#setState(s, SessionState.idle);
          this.moderation.stats.refused++;
          this.stats.errors.banned++;
          s.peer.send(ServerMessage.banned(check.bannedUntil));
          return;
        }
        // The store's list is complete (a skip is written before the next check reads, on the
        // same store connection): it replaces the session's own short list.
        if (check.avoid.length > 0) s.recent = check.avoid as string[];
        this.#enqueue(s, Date.now());
      },
      (err: unknown) => {
        s.hold -= 1 << Hold.checkShift;
        this.#log.warn({ err: String(err) }, 'ban check failed');
        if (s.closed || s.seq !== seq || s.state !== SessionState.searching) return;
        this.#setState(s, SessionState.idle);
        this.#error(s, ErrorCode.engineUnavailable);
      },
    );
  }

  /** Puts a searching session in the queue unless a call is in flight or a stale match is due. */
  #enqueue(s: Session, now: number): void {
    if (s.inflight || s.queued || s.checking > 0) return;
    if (s.expectMatch > 0) {
      const wait = s.expectSince + this.options.staleMatchTimeoutMs - now;
      if (wait > 0) {
        this.#setTimer(s, this.#onStaleTimeout, wait);
        return;
      }
      s.expectMatch = 0; // the announced match was lost (relay is at-most-once)
    }
    void this.#pair(s, this.#waiterOf(s));
  }

  #waiterOf(s: Session): Waiter {
    return {
      userId: s.id,
      person: s.person,
      address: s.address,
      nodeId: this.engine.nodeId,
      interests: s.interests,
      since: s.since,
      anyoneAfter: s.anyoneAfter,
      avoid: s.recent ?? NO_ONE,
      lang: s.lang,
      questions: s.questions,
      question: s.question,
    };
  }

  /** Pairs session `s` (searching for itself) or queues it; `s.queued` is set before the call. */
  async #pair(s: Session, waiter: Waiter): Promise<void> {
    const seq = s.seq;
    s.inflight = true;
    s.queued = true;
    for (;;) {
      let m;
      try {
        m = await this.engine.queue.pairOrEnqueue(waiter, Date.now());
      } catch (err) {
        s.inflight = false;
        s.queued = false;
        this.#log.warn({ err: String(err) }, 'matchmaking failed');
        if (!s.closed && s.seq === seq) {
          this.#setState(s, SessionState.idle);
          this.#error(s, ErrorCode.engineUnavailable);
        }
        return;
      }
      if (m === null) {
        s.inflight = false;
        if (!s.queued) return; // taken by a concurrent pairing while the call was in flight
        if (s.closed || s.seq !== seq) {
          // Left (or restarted) while the call was in flight: take it out again.
          this.#dequeue(s);
          if (!s.closed && s.state === SessionState.searching) this.#enqueue(s, Date.now());
        } else if (s.anyoneAfter > Date.now()) {
          this.#setTimer(s, this.#onInterestWait, s.anyoneAfter - Date.now());
        }
        return;
      }
      if (m.question !== undefined) {
        s.inflight = false;
        if (s.closed || s.seq !== seq) {
          // We no longer want this: the other two get their places back.
          s.queued = false;
          for (const w of [m.question.asker, ...m.question.discussers]) if (w.userId !== s.id) this.#giveBack(w);
          if (!s.closed && s.state === SessionState.searching) this.#enqueue(s, Date.now());
          return;
        }
        // Taken, like the others: its own `question` event (async) begins it (see #taken).
        s.queued = true;
        this.#announceQuestion(m.question);
        return;
      }
      const partner = m.partner;
      if (s.closed || s.seq !== seq) {
        // We no longer want a partner: give this one its place back.
        s.inflight = false;
        s.queued = false;
        this.#giveBack(partner);
        if (!s.closed && s.state === SessionState.searching) this.#enqueue(s, Date.now());
        return;
      }
      if (partner.nodeId === this.engine.nodeId) {
        const p = this.#sessions.get(partner.userId);
        if (p === undefined || !this.#taken(p)) continue; // gone or no longer searching: try again
        if (!this.#sameSearch(p, partner)) continue;
        s.inflight = false;
        s.queued = false;
        this.#begin(s, p, partner, m.common, true);
        return;
      }
      // Remote partner: we start at once; its node accepts, or answers `ended`.
      s.inflight = false;
      s.queued = false;
      this.#begin(s, undefined, partner, m.common, false);
      this.#announce(partner, waiter, m.common);
      return;
    }
  }

  /** Tells the three members of a question about it (each on its node, this one included: asynchronously). */
  #announceQuestion(q: QuestionMatch): void {
    for (const [node, event] of questionEvents(q)) this.engine.relay.send(node, event);
  }

  /** Sends `matched` (with `partner`) to a remote waiter's node. */
  #announce(to: Waiter, partner: Waiter, common: readonly string[]): void {
    this.engine.relay.send(to.nodeId, matchedEvent(to, partner, common));
  }

  /** A waiter we took from the queue but cannot use gets its place back (its `since` is kept). */
  #giveBack(w: Waiter): void {
    if (w.nodeId === this.engine.nodeId) {
      const p = this.#sessions.get(w.userId);
      if (p !== undefined && this.#taken(p)) this.#enqueue(p, Date.now());
      return;
    }
    void this.#pairFor(w);
  }

  /** Pairs or queues a remote user on its node's behalf; every side learns of a match by `matched`. */
  async #pairFor(w: Waiter): Promise<void> {
    for (;;) {
      let m;
      try {
        m = await this.engine.queue.pairOrEnqueue(w, Date.now());
      } catch (err) {
        // Its node will see no match; the user can search again.
        this.#log.warn({ err: String(err) }, 'matchmaking failed');
        return;
      }
      if (m === null) return;
      if (m.question !== undefined) return this.#announceQuestion(m.question);
      const partner = m.partner;
      if (partner.nodeId === this.engine.nodeId) {
        const p = this.#sessions.get(partner.userId);
        if (p === undefined || !this.#taken(p)) continue;
        if (!this.#sameSearch(p, partner)) continue;
        this.#begin(p, undefined, w, m.common, false);
        this.#announce(w, partner, m.common);
        return;
      }
      this.#announce(w, partner, m.common);
      this.#announce(partner, w, m.common);
      return;
    }
  }

  /**
   * A pairing took session `p` from the queue. Returns true if `p` accepts (it is searching),
   * keeping the bookkeeping of expected matches either way.
   */
  #taken(p: Session): boolean {
    if (p.queued) p.queued = false; // the entry we believed in
    else if (p.removing > 0 || p.expectMatch > 0) p.expectMatch--; // announced by a remove's false
    if (p.closed || p.state !== SessionState.searching) return false;
    this.#clearTimer(p);
    return true;
  }

  /**
   * Whether the queue entry `w` that a pairing took is still `p`'s search's language. A session
   * that searched again in another language while its old entry was being taken (a `remove`
   * that came too late) refuses it and queues again: nobody is matched across languages.
   */
  #sameSearch(p: Session, w: Waiter): boolean {
    if ((w.lang ?? '') === p.lang) return true;
    this.#enqueue(p, Date.now());
    return false;
  }

  /** Takes a session out of the queue; a false answer means a match for it is on its way. */
  #dequeue(s: Session): void {
    s.queued = false;
    s.removing++;
    this.engine.queue.remove(s.id).then(
      (was) => {
        s.removing--;
        if (!was) this.#expect(s);
      },
      (err) => {
        s.removing--;
        this.#log.warn({ err: String(err) }, 'queue remove failed');
      },
    );
  }

  #expect(s: Session): void {
    s.expectMatch++;
    s.expectSince = Date.now();
    if (s.expectMatch > 0 && !s.closed && s.state === SessionState.searching && !s.queued && !s.inflight) {
      this.#setTimer(s, this.#onStaleTimeout, this.options.staleMatchTimeoutMs);
    }
  }

  #stopSearch(s: Session): void {
    this.#setState(s, SessionState.idle);
    if (s.queued && !s.inflight) this.#dequeue(s);
  }

  /** Interest wait over: search again accepting anyone (remove, then pair with the same `since`). */
  readonly #onInterestWait = (s: Session): void => {
    s.timer = undefined;
    if (s.closed || s.state !== SessionState.searching || !s.queued || s.inflight) return;
    const seq = s.seq;
    s.queued = false;
    s.inflight = true;
    s.removing++;
    this.engine.queue.remove(s.id).then(
      (was) => {
        s.removing--;
        s.inflight = false;
        if (!was) return this.#expect(s); // taken meanwhile: that match is (or was) accepted
        if (!s.closed && s.seq === seq && s.state === SessionState.searching) void this.#pair(s, this.#waiterOf(s));
      },
      (err) => {
        s.removing--;
        s.inflight = false;
        this.#log.warn({ err: String(err) }, 'queue remove failed');
        if (!s.closed && s.state === SessionState.searching) {
          this.#setState(s, SessionState.idle);
          this.#error(s, ErrorCode.engineUnavailable);
        }
      },
    );
  };

  readonly #onStaleTimeout = (s: Session): void => {
    s.timer = undefined;
    if (!s.closed && s.state === SessionState.searching) this.#enqueue(s, Date.now());
  };

  #setTimer(s: Session, fn: (s: Session) => void, ms: number): void {
    this.#clearTimer(s);
    s.timer = setTimeout(fn, Math.max(0, ms), s);
    s.timer.unref();
  }

  #clearTimer(s: Session): void {
    if (s.timer !== undefined) {
      clearTimeout(s.timer);
      s.timer = undefined;
    }
  }

  // ---- conversations ----

  /**
   * `s` starts talking to `partner` (its session `p` when local), and `p` to `s` when `both`.
   * `partner` names the other side as the queue knows it (user, node, person, address).
   */
  #begin(s: Session, p: Session | undefined, partner: PartnerRef, common: readonly string[], both: boolean): void {
    // The queue pairs within one language class: the language is both users' (or none).
    const matched = ServerMessage.matched(common, s.lang);
    const now = Date.now();
    const wait = common.length > 0 ? this.stats.matchWait.shared : this.stats.matchWait.unshared;
    observe(wait, now - s.since);
    this.#setState(s, SessionState.chatting);
    s.partner = p;
    s.partnerId = partner.userId;
    s.partnerNode = partner.nodeId;
    s.partnerPerson = partner.person;
    s.receipts = conversation(now, common, partner.address);
    s.peer.send(matched);
    this.stats.matched++;
    if (both && p !== undefined) {
      this.stats.matched++;
      observe(wait, now - p.since);
      this.#setState(p, SessionState.chatting);
      p.partner = s;
      p.partnerId = s.id;
      p.partnerNode = this.engine.nodeId;
      p.partnerPerson = s.person;
      p.receipts = conversation(now, common, s.address);
      p.peer.send(matched);
    }
  }

  /** `s` ends its conversation; the partner is told `reason`. `s` becomes idle (silently). */
  #endWith(s: Session, reason: EndReason): void {
    if (s.q?.role === 0) {
      // The asker leaves alone: the discussers go on as an ordinary pair.
      this.#questions.askerLeft(s);
      this.#setState(s, SessionState.idle);
      return;
    }
    if (s.q !== undefined) this.#questions.discusserEnded(s, reason);
    const p = s.partner;
    const partnerId = s.partnerId;
    const partnerNode = s.partnerNode;
    this.#setState(s, SessionState.idle);
    if (p !== undefined) this.#endedBy(p, s.id, reason);
    else this.engine.relay.send(partnerNode, { kind: 'ended', to: partnerId, from: s.id, reason });
  }

  /** The partner `from` ended `p`'s conversation. Ignored if stale. */
  #endedBy(p: Session, from: string, reason: EndReason): void {
    if (p.closed || p.state !== SessionState.chatting || p.partnerId !== from) return;
    if (reason === EndReason.skipped) p.remember(p.partnerPerson, this.options.noRepeat);
    // An absent user keeps what it missed of the conversation, and why it ended, for its resume.
    const missed = p.peer === AWAY ? (p.receipts ?? new Receipts()) : undefined;
    this.#setState(p, SessionState.idle);
    if (missed !== undefined) {
      missed.ended = reason;
      p.receipts = missed;
    }
    this.stats.ended[reason]++;
    p.peer.send(ServerMessage.ended[reason]);
  }

  /** `moved`: the conversation continues in another session (a resume), it did not end. */
  #setState(s: Session, next: SessionState, moved = false): void {
    const prev = s.state;
    s.seq++;
    if (prev === next) return;
    if (prev === SessionState.searching) {
      this.#searching--;
      this.#langs.add(s.lang, -1);
      this.#clearTimer(s);
      s.early = undefined;
    } else if (prev === SessionState.chatting) {
      s.q = undefined;
      this.#chatting--;
      if (!moved && s.receipts !== undefined) observe(this.stats.conversation, Date.now() - s.receipts.since);
      s.partner = undefined;
      s.partnerId = '';
      s.partnerNode = '';
      s.partnerPerson = '';
      s.hold &= ~Hold.partnerAway;
      // The conversation's evidence and receipts are forgotten with it.
      s.receipts = undefined;
    }
    if (next === SessionState.searching) {
      this.#searching++;
      this.#langs.add(s.lang, 1);
    } else if (next === SessionState.chatting) this.#chatting++;
    s.state = next;
  }

  /** `s` (taken from the queue) begins the question conversation `e` announced, as member `e.role`. */
  #beginQuestion(s: Session, e: Extract<RelayEvent, { kind: 'question' }>): void {
    const now = Date.now();
    const early = s.early;
    s.early = undefined;
    observe(this.stats.matchWait.unshared, now - s.since);
    this.#setState(s, SessionState.chatting);
    const q = (s.q = new QuestionSeat(e.role, e.text, e.members));
    this.stats.matched++;
    if (e.role === 0) {
      s.receipts = conversation(now, NO_ONE, '');
    } else {
      const other = q.other;
      s.partnerId = other.id;
      s.partnerNode = other.node;
      s.partnerPerson = other.person;
      s.receipts = conversation(now, NO_ONE, other.address);
      // Local first, once both discussers on this node have begun.
      const p = other.node === this.engine.nodeId ? this.#sessions.get(other.id) : undefined;
      if (p !== undefined && p.state === SessionState.chatting && p.partnerId === s.id) {
        s.partner = p;
        p.partner = s;
      }
    }
    s.peer.send(this.#questions.matched(q, s.lang));
    if (early !== undefined) for (const ev of early) this.#onRelay(ev);
  }

  /** An event for an asker in its conversation: its discussers' lines, typing and end. */
  #toAsker(s: Session, e: RelayEvent): void {
    const q = s.q!;
    switch (e.kind) {
      case 'msg': {
        const wire = this.#questions.lineForAsker(q, e.from, e.text, e.n, (log) => this.moderation.keep(log, false, e.text, Date.now()));
        if (wire !== undefined) s.peer.send(wire);
        return;
      }
      case 'typing': {
        const from = q.from(e.from);
        if (from !== 0) s.peer.send(ServerMessage.typingFrom(e.on, from));
        return;
      }
      case 'ended':
        if (q.from(e.from) !== 0) this.#askerEnded(s, e.reason);
        return;
      default:
        return; // nothing else concerns an asker (no receipts, no hand-over)
    }
  }

  /** The asker's conversation ended (a discusser left, skipped or was lost). */
  #askerEnded(s: Session, reason: EndReason): void {
    this.#setState(s, SessionState.idle);
    this.stats.ended[reason]++;
    s.peer.send(ServerMessage.ended[reason]);
  }

  // ---- engine events ----

  #onRelay(e: RelayEvent): void {
    const s = this.#sessions.get(e.to);
    if (s === undefined && e.kind !== 'matched' && e.kind !== 'question' && e.kind !== 'resume' && e.kind !== 'handover' && e.kind !== 'resume_failed') {
      // For a session that resumed elsewhere: on to where it is now.
      const f = this.#forward.get(e.to);
      if (f !== undefined) this.engine.relay.send(f.node, { ...e, to: f.id });
      return;
    }
    if (s !== undefined && s.state === SessionState.searching && (s.questions || s.question !== undefined) && earlyKind(e)) {
      // Possibly from a question conversation whose `question` event is still on its way.
      const early = (s.early ??= []);
      if (early.length < MAX_EARLY) early.push(e);
      return;
    }
    if (s !== undefined && s.q?.role === 0 && s.state === SessionState.chatting && (e.kind === 'msg' || e.kind === 'typing' || e.kind === 'ended')) return this.#toAsker(s, e);
    switch (e.kind) {
      case 'question': {
        if (s === undefined) return this.#questions.refuse(e, EndReason.disconnected);
        if (!this.#taken(s)) return this.#questions.refuse(e, EndReason.left);
        // The search changed meanwhile (another question, no longer willing): not this one.
        const fits = (e.role === 0 ? s.question === e.text : s.questions && s.question === undefined) && e.lang === s.lang;
        if (!fits) {
          this.#questions.refuse(e, EndReason.left);
          this.#enqueue(s, Date.now());
          return;
        }
        return this.#beginQuestion(s, e);
      }
      case 'asker_left':
        if (s !== undefined && s.state === SessionState.chatting && s.q !== undefined && s.q.asker.id === e.from) {
          s.q = undefined;
          s.peer.send(ServerMessage.askerLeft);
        }
        return;
      case 'matched': {
        if (s === undefined) {
          this.engine.relay.send(e.partnerNode, { kind: 'ended', to: e.partner, from: e.to, reason: EndReason.disconnected });
          return;
        }
        if (!this.#taken(s)) {
          this.engine.relay.send(e.partnerNode, { kind: 'ended', to: e.partner, from: e.to, reason: EndReason.left });
          return;
        }
        if (e.lang !== undefined && e.lang !== s.lang) {
          // Made for an earlier search in another language: nobody is matched across languages.
          this.engine.relay.send(e.partnerNode, { kind: 'ended', to: e.partner, from: e.to, reason: EndReason.left });
          this.#enqueue(s, Date.now());
          return;
        }
        this.#begin(s, undefined, { userId: e.partner, nodeId: e.partnerNode, person: e.partnerPerson, address: e.partnerAddress }, e.common, false);
        return;
      }
      case 'msg':
        if (s !== undefined && s.state === SessionState.chatting && s.partnerId === e.from) this.#deliver(s, e.text, e.n, Date.now());
        return;
      case 'away':
        if (s !== undefined && s.state === SessionState.chatting && s.partnerId === e.from) this.#partnerAway(s);
        return;
      case 'delivered':
        if (s !== undefined && s.state === SessionState.chatting && s.partnerId === e.from) this.#delivered(s, e.seq);
        return;
      case 'moved':
        return this.#moved(s, e.from, e.newId, e.newNode);
      case 'resume': {
        // We hold (or held) the place: hand it over, or refuse.
        const place = this.#placeFor(e.to, e.mac, e.person);
        if (place === undefined) {
          this.engine.relay.send(e.fromNode, { kind: 'resume_failed', to: e.from, from: e.to });
          return;
        }
        const h = this.#takePlace(place);
        this.engine.relay.send(e.fromNode, { kind: 'handover', to: e.from, from: place.id, state: h });
        this.#announceMove(h, place.id, e.from, e.fromNode);
        return;
      }
      case 'handover': {
        const h = readHandover(e.state);
        if (s !== undefined && (s.hold & Hold.resuming) !== 0 && !s.closed && h !== null) {
          s.hold &= ~Hold.resuming;
          this.#adopt(s, h);
          return;
        }
        // Nobody to take it (the client left, or gave up waiting): the conversation ends. Its
        // partner knows the place by its old id or, once `moved` arrived, by the new one.
        if (h !== null && h.state === 'chatting') {
          for (const from of [e.from, e.to]) {
            const ended = { kind: 'ended', to: h.partnerId, from, reason: EndReason.disconnected } as const;
            if (h.partnerNode === this.engine.nodeId) this.#onRelay(ended);
            else this.engine.relay.send(h.partnerNode, ended);
          }
        }
        if (s !== undefined && (s.hold & Hold.resuming) !== 0) {
          s.hold &= ~Hold.resuming;
          this.#resumeFailed(s);
        }
        return;
      }
      case 'resume_failed':
        if (s !== undefined && (s.hold & Hold.resuming) !== 0) {
          s.hold &= ~Hold.resuming;
          this.#resumeFailed(s);
        }
        return;
      case 'typing':
        if (s !== undefined && s.state === SessionState.chatting && s.partnerId === e.from) {
          s.peer.send(e.on ? ServerMessage.typingOn : ServerMessage.typingOff);
        }
        return;
      case 'ended':
        if (s !== undefined) this.#endedBy(s, e.from, e.reason);
        return;
    }
  }

  #onNodeDown(nodeId: string): void {
    for (const s of this.#sessions.values()) {
      const q = s.q;
      if (q !== undefined && s.state === SessionState.chatting) {
        if (q.role === 0 && (q.members[1].node === nodeId || q.members[2].node === nodeId)) {
          this.#askerEnded(s, EndReason.disconnected);
          continue;
        }
        if (q.role !== 0 && q.asker.node === nodeId) {
          s.q = undefined;
          s.peer.send(ServerMessage.askerLeft);
        }
      }
      if (s.state === SessionState.chatting && s.partner === undefined && s.partnerNode === nodeId) {
        this.#endedBy(s, s.partnerId, EndReason.disconnected);
      }
    }
  }

  // ---- errors and presence ----

  #error(s: Session, code: ErrorCode): void {
    this.stats.errors[code]++;
    s.peer.send(ServerMessage.error[code]);
  }

  /** Answers a bad or rate-limited message; a client that keeps at it is closed (1008). */
  #reject(s: Session, e: ParseError, now: number): void {
    if (this.#strike(s, now)) this.#error(s, e.code);
  }

  /** Counts one strike; over the limit the client is closed (1008). Returns false if closed. */
  #strike(s: Session, now: number): boolean {
    if ((s.strikes ??= new StrikeCounter(this.options.floodStrikes)).hit(now)) {
      s.peer.close(ChatCloseCode.policyViolation, 'flooding');
      return false;
    }
    return true;
  }

  #publish(): void {
    const now = Date.now();
    for (const [id, f] of this.#forward) if (f.until <= now) this.#forward.delete(id);
    for (const [key, until] of this.#waves) if (until <= now) this.#waves.delete(key);
    const c = this.counts();
    this.#reported = c;
    try {
      this.engine.presence.report(c);
    } catch (err) {
      this.#log.warn({ err: String(err) }, 'presence report failed');
    }
  }
}

/** Events that may overtake a question conversation's `question` event. */
function earlyKind(e: RelayEvent): boolean {
  return e.kind === 'msg' || e.kind === 'typing' || e.kind === 'ended' || e.kind === 'asker_left';
}

/** A conversation's state, as one side begins it. */
function conversation(now: number, common: readonly string[], partnerAddress: string): Receipts {
  const r = new Receipts();
  r.since = now;
  r.common = common;
  r.partnerAddress = partnerAddress;
  return r;
}

/**
 * What a place's client has not acknowledged, `[seq, text]` in order: what the receipts kept (for a
 * client that acks, or while it was away) and, before its first ack, the evidence's partner lines.
 */
function unacknowledged(r: Receipts, max: number): Array<readonly [number, string]> {
  const bySeq = new Map<number, string>();
  if (r.log !== undefined) for (const [seq, text] of r.log.partnerLinesAfter(r.acked)) bySeq.set(seq, text);
  r.pending.forEach((text, i) => bySeq.set(r.pendingBase + i, text));
  return [...bySeq].filter(([seq]) => seq > r.acked).sort((a, b) => a[0] - b[0]).slice(-max);
}
