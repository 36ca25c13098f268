/**
 * The Redis engine: many server processes, on many machines, sharing one Redis or one Redis
 * Cluster (the same code on an ioredis `Redis` or `Cluster` client; see redis-scripts.ts
 * `redisKeys` for the cluster's key layout).
 *
 * - Match queue: one Lua script per `pairOrEnqueue` (redis-scripts.ts) over a waiting queue in
 *   sorted sets, so pairing is atomic across the cluster. All keys share one hash tag.
 * - Relay: one pub/sub channel per node; a node publishes everything on one connection, so events
 *   from one node to another keep their order. Events for the own node never touch Redis. On a
 *   cluster the channels are sharded (`SPUBLISH`/`SSUBSCRIBE`): each lives on one shard only, and
 *   every heartbeat checks that the own channel is still heard (`SPUBLISH` answers how many).
 * - Liveness and presence: a heartbeat script every `heartbeatMs` writes this node's deadline and
 *   counts into two hashes and reads everyone else's; a node whose deadline passed is reported to
 *   the chat (`onNodeDown`) and its waiters are dropped.
 * - Redis going away: `ready()` turns false (the chat is told), matching rejects with
 *   `EngineUnavailableError`, cross-node relay events are dropped and counted; ioredis reconnects
 *   by itself, the engine resubscribes, re-announces and re-enqueues its waiters that Redis lost.
 *
 * ioredis stays inside this file: the chat sees only the `Engine` interface.
 */
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import {
  EngineUnavailableError,
  type Engine,
  type EngineListener,
  type Match,
  type MatchQueue,
  type ModerationStore,
  type NodeCounts,
  type Presence,
  type Relay,
  type RelayEvent,
  type Waiter,
  matchedEvent,
  questionEvents,
  addLanguages,
} from './engine.js';
import { RedisModerationStore } from './moderation-redis.js';
import { ClusterModerationStore } from './moderation-redis-cluster.js';
import { RedisGateStore } from './redis-gate.js';
import { decodeRelayMessage, encodeRelayBatch, encodeRelayEvent } from './redis-codec.js';
import {
  decodeWaiter,
  dropNodeScript,
  encodeWaiter,
  heartbeatScript,
  missingScript,
  pairScript,
  redisKeys,
  removeScript,
  type LuaScript,
  type RedisKeys,
} from './redis-scripts.js';

/**
 * A Redis Cluster to run on: seed nodes, each a `redis://` or `rediss://` URL (`host:port`, no
 * database). The first seed's scheme (TLS or not), user and password apply to every node.
 */
export interface RedisClusterTarget {
  readonly cluster: readonly string[];
}

/** What the engine connects to: one Redis (its URL) or a Redis Cluster. */
export type RedisTarget = string | RedisClusterTarget;

/** A connection to one Redis or to a cluster: the commands the engine uses are the same. */
type Client = Redis | Cluster;

/** The empty batch a node publishes on its own channel to check that it still hears it (cluster). */
const PROBE = '[1,"batch",[]]';

/** Options of the Redis engine; every one has a default. */
export interface RedisEngineOptions {
  /** This node's id. @default a random UUID */
  nodeId?: string;
  /** Prefix of every key and channel; must contain a `{hash tag}`. @default '{strangers}' */
  keyPrefix?: string;
  /** Heartbeat period (deadline refresh, presence report, failure detection). @default 1000 */
  heartbeatMs?: number;
  /** A node that has not heartbeaten for this long is dead. @default 3000 */
  deadlineMs?: number;
  /** Waiters examined per queue in one pairing (skips of avoided/dead waiters). @default 100 */
  scanLimit?: number;
  /**
   * `start()` fails if Redis is not ready within this time; at once if it refuses the credentials,
   * the ACL user's permissions or the TLS certificate (see {@link RedisStartError}). @default 5000
   */
  startTimeoutMs?: number;
  /** A Redis command that has not answered in this time fails (the engine then reports unavailable). @default 2000 */
  commandTimeoutMs?: number;
  /** Where the engine reports connection changes and errors. @default silent */
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * Counters, cumulative since start. Redis operations issued by this node are
 * `scripts + published + scriptReloads` (each is one round trip's command).
 */
export interface RedisEngineStats {
  /** Pairing scripts run (one per `pairOrEnqueue`). */
  pairScripts: number;
  /** Remove scripts run (one per `remove`). */
  removeScripts: number;
  /** Moderation scripts run (reports, ban checks at each search, skips, spam copies, the review queue). */
  moderationScripts: number;
  /** Heartbeat scripts run. */
  heartbeats: number;
  /** Node-drop and reconcile scripts run. */
  maintenanceScripts: number;
  /** EVAL after NOSCRIPT (Redis restarted and lost its script cache). */
  scriptReloads: number;
  /** Relay events sent to other nodes. */
  relayed: number;
  /** PUBLISH commands: one per target node per event-loop turn, carrying all its events. */
  published: number;
  /** Relay events to another node dropped because Redis was unreachable. */
  publishDropped: number;
  /** Relay events delivered to the own node without Redis. */
  localDelivered: number;
  /** Relay events received from Redis and handed to the chat. */
  received: number;
  /** Messages on this node's channel that did not decode (counted, logged once per kind, never delivered). */
  undecodable: number;
  /** Nodes reported down to the chat. */
  nodesDown: number;
  /** Times this node found it had been out of the cluster longer than the deadline. */
  fenced: number;
  /** Waiters re-enqueued after Redis lost them. */
  reenqueued: number;
  /** Redis errors seen (connection or command). */
  redisErrors: number;
  /** Session gate scripts run (one per claim or counted request, see redis-gate.ts). */
  gateScripts: number;
}

const defaults = {
  keyPrefix: '{strangers}',
  heartbeatMs: 1000,
  deadlineMs: 3000,
  scanLimit: 100,
  startTimeoutMs: 5000,
  commandTimeoutMs: 2000,
} as const;

const noLog: NonNullable<RedisEngineOptions['log']> = () => {};

/** Why `start()` failed: a stable code, and a message naming the cause and the fix. */
export type RedisStartErrorCode =
  /** No connection within `startTimeoutMs` (down, wrong port, firewall, plain `redis://` to a TLS port). */
  | 'redis_unreachable'
  /** Redis refused the credentials (no password, a wrong one, an unknown or disabled ACL user). */
  | 'redis_auth'
  /** The ACL user lacks a command, key or channel the engine needs (NOPERM). */
  | 'redis_permission'
  /** `rediss://`: the server's certificate is not trusted, or does not name the host. */
  | 'redis_tls';

/**
 * `start()` failed. Credentials, permissions and certificates are refused at once (retrying
 * cannot cure them); anything else is retried until `startTimeoutMs`, then reported with the
 * last error seen.
 */
export class RedisStartError extends Error {
  readonly code: RedisStartErrorCode;
  constructor(code: RedisStartErrorCode, message: string) {
    super(message);
    this.name = 'RedisStartError';
    this.code = code;
  }
}

/** Node's certificate verification failures (`err.code` of a refused TLS handshake). */
const untrustedCertificate = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'INVALID_CA',
]);

/** The start error for a Redis error that retrying cannot cure, or undefined for any other. */
function refusal(err: unknown, where: string): RedisStartError | undefined {
  // A cluster client reports a failed slots refresh; the node's own error says why.
  const inner = (err as { lastNodeError?: unknown } | null)?.lastNodeError;
  if (inner !== undefined && inner !== null) return refusal(inner, where);
  const msg = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const at = `Redis at ${where}`;
  if (msg.startsWith('WRONGPASS') || msg.startsWith('NOAUTH')) {
    return new RedisStartError('redis_auth', `${at} refused the credentials: ${msg} (give them in the URL: redis://USER:PASSWORD@HOST:PORT, or redis://:PASSWORD@HOST:PORT for the default user)`);
  }
  // A script's call refused by the ACL reads `NOPERM ...` from Redis 7.2 on, `ERR The user executing the script can't ...` before.
  if (msg.startsWith('NOPERM') || msg.startsWith("ERR The user executing the script can't")) {
    return new RedisStartError('redis_permission', `${at}: the Redis user lacks a permission the engine needs: ${msg} (docs/safety.md gives the ACL rule)`);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new RedisStartError('redis_tls', `${at}: its TLS certificate does not name this host: ${msg}`);
  }
  if (typeof code === 'string' && untrustedCertificate.has(code)) {
    const extra = process.env.NODE_EXTRA_CA_CERTS;
    const hint = extra ? `NODE_EXTRA_CA_CERTS is ${extra}: is that the CA that signed Redis's certificate?` : 'for a private CA, start the node with NODE_EXTRA_CA_CERTS=/path/to/ca.pem';
    return new RedisStartError('redis_tls', `${at}: its TLS certificate is not trusted: ${msg} (${code}; ${hint})`);
  }
  return undefined;
}

/** Names a target for logs and errors, passwords hidden. */
function describe(target: RedisTarget): string {
  return typeof target === 'string' ? redact(target) : `cluster ${target.cluster.map(redact).join(',')}`;
}

/** Host and port of a seed URL (IPv6 without its brackets). */
function seedNode(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port === '' ? 6379 : Number(u.port) };
}

/** Hides a password in a Redis URL for logs and errors. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** The Redis engine. See {@link Engine} for the contract and the module comment for the design. */
export class RedisEngine implements Engine {
  readonly nodeId: string;
  readonly queue: MatchQueue;
  readonly relay: Relay;
  readonly presence: Presence;
  readonly moderation: ModerationStore;
  readonly gate: RedisGateStore;

  readonly #target: RedisTarget;
  /** The target as logs and errors show it (passwords hidden). */
  readonly #where: string;
  readonly #keys: RedisKeys;
  readonly #opts: Required<Omit<RedisEngineOptions, 'nodeId' | 'keyPrefix' | 'log'>>;
  readonly #log: NonNullable<RedisEngineOptions['log']>;
  readonly #stats: RedisEngineStats = {
    pairScripts: 0,
    removeScripts: 0,
    moderationScripts: 0,
    heartbeats: 0,
    maintenanceScripts: 0,
    scriptReloads: 0,
    relayed: 0,
    published: 0,
    publishDropped: 0,
    localDelivered: 0,
    received: 0,
    undecodable: 0,
    nodesDown: 0,
    fenced: 0,
    reenqueued: 0,
    redisErrors: 0,
    gateScripts: 0,
  };

  #cmd: Client | undefined;
  #sub: Client | undefined;
  /** Cluster: the last heartbeat failed (a shard is down or unreachable); the node is not ready. */
  #heartbeatFailed = false;
  #listener: EngineListener | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  // Readiness: the command connection is up, this node has announced itself since it came up,
  // and the subscriber listens on this node's channel.
  #cmdUp = false;
  #announced = false;
  #subscribed = false;
  #ready = false;
  /** When the command connection last came up (ms, local clock); 0 before the first time. */
  #upSince = 0;
  #reconnected = false;
  #everAnnounced = false;
  #heartbeatRunning = false;
  #loggedOutage = false;

  /** This node's waiters as last enqueued, to re-enqueue those Redis lost (restart, fencing). */
  readonly #waiting = new Map<string, Waiter>();
  /** Nodes seen alive in a heartbeat, and those already reported down (once per death). */
  readonly #known = new Set<string>();
  readonly #down = new Set<string>();
  readonly #channels = new Map<string, string>();
  #own: NodeCounts = { online: 0, searching: 0, chatting: 0 };
  #others: NodeCounts = { online: 0, searching: 0, chatting: 0 };

  // Events for the own node: delivered in order by one scheduled flush, no closure per event.
  #inbox: RelayEvent[] = [];
  // Events for other nodes, by channel, published together at the end of the turn.
  readonly #outbox = new Map<string, string[]>();
  #publishScheduled = false;
  #spare: RelayEvent[] = [];
  #flushScheduled = false;

  constructor(target: RedisTarget, options: RedisEngineOptions = {}) {
    if (typeof target !== 'string' && target.cluster.length === 0) throw new TypeError('a Redis Cluster needs at least one seed node');
    this.#target = target;
    this.#where = describe(target);
    this.nodeId = options.nodeId ?? randomUUID();
    this.#keys = redisKeys(options.keyPrefix ?? defaults.keyPrefix, typeof target !== 'string');
    this.#opts = {
      heartbeatMs: options.heartbeatMs ?? defaults.heartbeatMs,
      deadlineMs: options.deadlineMs ?? defaults.deadlineMs,
      scanLimit: options.scanLimit ?? defaults.scanLimit,
      startTimeoutMs: options.startTimeoutMs ?? defaults.startTimeoutMs,
      commandTimeoutMs: options.commandTimeoutMs ?? defaults.commandTimeoutMs,
    };
    if (this.#opts.deadlineMs <= this.#opts.heartbeatMs) throw new RangeError('deadlineMs must exceed heartbeatMs');
    this.#log = options.log ?? noLog;
    this.queue = {
      pairOrEnqueue: (waiter, now) => this.#pairOrEnqueue(waiter, now),
      remove: (userId) => this.#remove(userId),
    };
    this.relay = { send: (nodeId, event) => this.#send(nodeId, event) };
    const moderate = async (script: LuaScript, keys: string[], args: string[]): Promise<unknown> => {
      if (!this.#ready) throw new EngineUnavailableError();
      this.#stats.moderationScripts++;
      try {
        return await this.#eval(script, keys, args);
      } catch (err) {
        throw this.#unavailable(err);
      }
    };
    // On a cluster, moderation's keys are spread by person and address (one slot per script).
    this.moderation = this.#keys.cluster ? new ClusterModerationStore(moderate, this.#keys.namespace) : new RedisModerationStore(moderate, this.#keys.moderation);
    this.presence = {
      report: (counts) => {
        this.#own = { online: counts.online, searching: counts.searching, chatting: counts.chatting, langs: counts.langs ?? {} };
      },
      counts: () => {
        const langs: Record<string, number> = {};
        addLanguages(langs, this.#own.langs);
        addLanguages(langs, this.#others.langs);
        return {
          online: this.#own.online + this.#others.online,
          searching: this.#own.searching + this.#others.searching,
          chatting: this.#own.chatting + this.#others.chatting,
          langs,
        };
      },
    };
    this.gate = new RedisGateStore(this.#keys.gate, async (script, keys, args) => {
      if (!this.#ready) throw new EngineUnavailableError();
      this.#stats.gateScripts++;
      try {
        return await this.#eval(script, keys, args);
      } catch (err) {
        throw this.#unavailable(err);
      }
    });
  }

  /** A snapshot of the counters. */
  stats(): RedisEngineStats {
    return { ...this.#stats };
  }

  ready(): boolean {
    return this.#ready;
  }

  async start(listener: EngineListener): Promise<void> {
    if (this.#cmd !== undefined) throw new Error('RedisEngine.start() called twice');
    this.#listener = listener;
    const common = {
      lazyConnect: true,
      connectTimeout: this.#opts.startTimeoutMs,
      // Reconnect forever, quickly: a node without Redis is a node that cannot match.
      retryStrategy: (times: number) => Math.min(100 * times, 1000),
      maxRetriesPerRequest: 1,
      connectionName: `strangers:${this.nodeId}`,
    };
    let cmd: Client;
    let sub: Client;
    const target = this.#target;
    if (typeof target === 'string') {
      // Commands fail at once while disconnected (no offline queue): the chat gets an error code now
      // rather than a match minutes later; an unanswered command is not resent after a reconnect
      // (a pairing that did run is repaired by re-enqueueing, see #reconcile).
      cmd = new Redis(target, {
        ...common,
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        enableAutoPipelining: true,
        commandTimeout: this.#opts.commandTimeoutMs,
      });
      // The subscriber resubscribes itself on 'ready' so that readiness waits for SUBSCRIBE's reply.
      sub = new Redis(target, { ...common, autoResubscribe: false });
      sub.on('message', this.#onMessage);
    } else {
      const first = new URL(target.cluster[0]!);
      const nodeOptions = {
        connectTimeout: this.#opts.startTimeoutMs,
        connectionName: common.connectionName,
        maxRetriesPerRequest: 1,
        autoResendUnfulfilledCommands: false,
        ...(first.username !== '' ? { username: decodeURIComponent(first.username) } : {}),
        ...(first.password !== '' ? { password: decodeURIComponent(first.password) } : {}),
        ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
      };
      const seeds = target.cluster.map(seedNode);
      const cluster = {
        lazyConnect: true,
        clusterRetryStrategy: common.retryStrategy,
        // A failover moves slots: find the new owners soon (a MOVED reply also refreshes at once).
        slotsRefreshInterval: 1000,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
      };
      // Commands are routed by slot; they fail rather than wait while the cluster is unreachable.
      cmd = new Cluster(seeds, {
        ...cluster,
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        redisOptions: { ...nodeOptions, commandTimeout: this.#opts.commandTimeoutMs },
      });
      // Sharded pub/sub: one subscriber connection to the shard that owns the own channel's slot,
      // followed through failovers by ioredis; the heartbeat's probe tells whether it still hears.
      sub = new Cluster(seeds, { ...cluster, shardedSubscribers: true, redisOptions: nodeOptions });
      sub.on('smessage', this.#onMessage);
      cmd.on('node error', this.#onRedisError);
      sub.on('node error', this.#onRedisError);
    }
    this.#cmd = cmd;
    this.#sub = sub;
    cmd.on('error', this.#onRedisError);
    sub.on('error', this.#onRedisError);
    cmd.on('ready', this.#onCmdReady);
    cmd.on('close', this.#onCmdClose);
    sub.on('ready', this.#onSubReady);
    sub.on('close', this.#onSubClose);

    const up = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#onStartRefused = undefined;
        let last = this.#lastError === undefined ? 'no error reported: the connection or its TLS handshake never completed' : `last error: ${this.#lastError}`;
        if (this.#keys.cluster && this.#lastError === undefined && this.#cmdUp) {
          last = `connected, but ${!this.#announced ? 'the heartbeat script never succeeded' : 'the own relay channel was never heard (sharded subscription)'}`;
        }
        reject(new RedisStartError('redis_unreachable', `cannot reach Redis at ${this.#where} within ${this.#opts.startTimeoutMs} ms (${last})`));
      }, this.#opts.startTimeoutMs);
      this.#onFirstReady = () => {
        clearTimeout(timer);
        this.#onStartRefused = undefined;
        resolve();
      };
      this.#onStartRefused = (err) => {
        clearTimeout(timer);
        this.#onStartRefused = undefined;
        this.#onFirstReady = undefined;
        reject(err);
      };
    });
    cmd.connect().catch(() => {}); // failures arrive as 'error' events and are retried
    sub.connect().catch(() => {});
    try {
      await up;
    } catch (err) {
      this.abort();
      throw err;
    }
    this.#timer = setInterval(this.#heartbeat, this.#opts.heartbeatMs);
    this.#timer.unref();
    this.#log('info', 'redis engine ready', { nodeId: this.nodeId, redis: this.#where });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    const cmd = this.#cmd;
    if (cmd !== undefined && cmd.status === 'ready') {
      try {
        await this.#eval(dropNodeScript, [this.#keys.waiters, this.#keys.open, this.#keys.pend, this.#keys.presence, this.#keys.nodeWaiters(this.nodeId)], [this.#keys.prefix, this.nodeId, '1']);
      } catch (err) {
        this.#log('warn', 'redis engine could not leave the cluster cleanly', { error: String(err) });
      }
    }
    this.#setReady(false, false);
    await Promise.all([quit(cmd), quit(this.#sub)]);
    this.#listener = undefined;
    this.#waiting.clear();
  }

  /**
   * Stops at once without leaving the cluster, as if the process had been killed: no cleanup,
   * the other nodes find out from the missing heartbeat. For tests of node death.
   */
  abort(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#setReady(false, false);
    this.#cmd?.disconnect();
    this.#sub?.disconnect();
    this.#listener = undefined;
  }

  // ---- match queue ----

  async #pairOrEnqueue(waiter: Waiter, now: number): Promise<Match | null> {
    if (!this.#ready) throw new EngineUnavailableError();
    const k = this.#keys;
    const q = k.lang(waiter.lang ?? '');
    const keys = [k.waiters, `${q}:open`, `${q}:pend`, k.nodes, k.nodeWaiters(waiter.nodeId)];
    for (const tag of waiter.interests) keys.push(`${q}:i:${tag}`);
    this.#stats.pairScripts++;
    let res: unknown;
    try {
      res = await this.#eval(pairScript, keys, [k.prefix, String(now), encodeWaiter(waiter), String(this.#opts.scanLimit)]);
    } catch (err) {
      throw this.#unavailable(err);
    }
    if (res === null) {
      // Only this node's own users: a waiter enqueued on another node's behalf is that node's to repair.
      if (waiter.nodeId === this.nodeId) this.#waiting.set(waiter.userId, waiter);
      return null;
    }
    this.#waiting.delete(waiter.userId);
    const row = res as string[];
    if (row[0] === '?') return this.#questionMatch(waiter, row);
    const partner = decodeWaiter(row[0] ?? '');
    if (partner === null) {
      // Only a foreign writer under our prefix could cause this; the partner is gone from the queue.
      this.#log('error', 'redis engine: undecodable waiter in the queue', { value: row[0] });
      throw new EngineUnavailableError('matchmaking store holds an invalid entry');
    }
    if (partner.nodeId === this.nodeId) this.#waiting.delete(partner.userId);
    return { partner, common: row.slice(1) };
  }

  /** A question formed by the pairing script: `['?', asker, discusser 1, discusser 2]`. */
  #questionMatch(caller: Waiter, row: string[]): Match {
    const [asker, d1, d2] = row.slice(1, 4).map((j) => decodeWaiter(j));
    if (asker == null || d1 == null || d2 == null) {
      this.#log('error', 'redis engine: undecodable waiter in the question queue', { value: row });
      throw new EngineUnavailableError('matchmaking store holds an invalid entry');
    }
    for (const w of [asker, d1, d2]) if (w.nodeId === this.nodeId) this.#waiting.delete(w.userId);
    // The caller gets itself back as it sent it; the others as the queue stored them.
    const members = [asker, d1, d2].map((w) => (w.userId === caller.userId ? caller : w)) as [Waiter, Waiter, Waiter];
    const partner = members[1].userId === caller.userId ? members[2] : members[1];
    return { partner, common: [], question: { asker: members[0], discussers: [members[1], members[2]] } };
  }

  async #remove(userId: string): Promise<boolean> {
    this.#waiting.delete(userId);
    if (!this.#ready) throw new EngineUnavailableError();
    this.#stats.removeScripts++;
    try {
      const k = this.#keys;
      return (await this.#eval(removeScript, [k.waiters, k.open, k.pend], [k.prefix, userId])) === 1;
    } catch (err) {
      throw this.#unavailable(err);
    }
  }

  /** EVALSHA, falling back to EVAL when Redis lost its script cache (a restart). */
  async #eval(script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    const cmd = this.#cmd;
    if (cmd === undefined) throw new EngineUnavailableError();
    try {
      return await cmd.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      this.#stats.scriptReloads++;
      return await cmd.eval(script.lua, keys.length, ...keys, ...args);
    }
  }

  #unavailable(err: unknown): EngineUnavailableError {
    if (err instanceof EngineUnavailableError) return err;
    this.#stats.redisErrors++;
    const e = new EngineUnavailableError();
    (e as { cause?: unknown }).cause = err;
    return e;
  }

  // ---- relay ----

  #send(nodeId: string, event: RelayEvent): void {
    if (nodeId === this.nodeId) {
      // Local first: the own node is reached without Redis (and still while Redis is down).
      this.#inbox.push(event);
      this.#stats.localDelivered++;
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(this.#flush);
      }
      return;
    }
    const cmd = this.#cmd;
    if (!this.#ready || cmd === undefined) {
      this.#stats.publishDropped++;
      return;
    }
    let channel = this.#channels.get(nodeId);
    if (channel === undefined) {
      if (this.#channels.size > 10_000) this.#channels.clear(); // node ids churn with restarts
      channel = this.#keys.relayChannel(nodeId);
      this.#channels.set(nodeId, channel);
      this.#known.add(nodeId); // talking to it: its death (or ours) must be reported
    }
    // Batched per target node until the end of this turn: one PUBLISH carries them all, in order.
    const pending = this.#outbox.get(channel);
    if (pending === undefined) this.#outbox.set(channel, [encodeRelayEvent(event)]);
    else pending.push(encodeRelayEvent(event));
    this.#stats.relayed++;
    if (!this.#publishScheduled) {
      this.#publishScheduled = true;
      setImmediate(this.#publishAll);
    }
  }

  /** Publishes this turn's events: one message per target node (a batch when there are several). */
  readonly #publishAll = (): void => {
    this.#publishScheduled = false;
    const cmd = this.#cmd;
    for (const [channel, encoded] of this.#outbox) {
      if (!this.#ready || cmd === undefined) {
        this.#stats.publishDropped += encoded.length;
        continue;
      }
      this.#stats.published++;
      const count = encoded.length;
      const message = count === 1 ? encoded[0]! : encodeRelayBatch(encoded);
      (this.#keys.cluster ? (cmd as Cluster).spublish(channel, message) : cmd.publish(channel, message)).catch((err: unknown) => this.#onPublishError(err, count));
    }
    this.#outbox.clear();
  };

  #onPublishError(err: unknown, events: number): void {
    this.#stats.publishDropped += events;
    this.#stats.redisErrors++;
    if (!this.#loggedOutage) this.#log('warn', 'redis engine: publish failed', { error: String(err) });
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const batch = this.#inbox;
    this.#inbox = this.#spare;
    for (let i = 0; i < batch.length; i++) this.#deliver(batch[i]!);
    batch.length = 0;
    this.#spare = batch;
  };

  readonly #onMessage = (_channel: string, message: string): void => {
    const { events, errors } = decodeRelayMessage(message);
    if (errors.length > 0) {
      this.#stats.undecodable += errors.length;
      this.#log('warn', 'redis engine: undecodable relay message', { reason: errors[0], bytes: message.length });
    }
    this.#stats.received += events.length;
    for (let i = 0; i < events.length; i++) this.#deliver(events[i]!);
  };

  #deliver(event: RelayEvent): void {
    // A 'matched' event means another node's pairing took this waiter out of the queue.
    if (event.kind === 'matched') {
      this.#waiting.delete(event.to);
      if (event.partnerNode !== this.nodeId) this.#known.add(event.partnerNode);
    }
    const listener = this.#listener;
    if (listener === undefined) return;
    try {
      listener.onRelay(event);
    } catch (err) {
      this.#log('error', 'chat listener threw on a relay event', { error: String(err) });
    }
  }

  // ---- connection state ----

  #onFirstReady: (() => void) | undefined;
  /** Set while start() waits: fails it at once on an error retrying cannot cure. */
  #onStartRefused: ((err: RedisStartError) => void) | undefined;
  /** The last Redis error seen while starting, for start()'s timeout message. */
  #lastError: string | undefined;

  /** While starting: remembers the error, and fails start() at once if retrying cannot cure it. */
  #startError(err: unknown): void {
    if (this.#onStartRefused === undefined) return;
    const code = (err as { code?: unknown } | null)?.code;
    this.#lastError = `${err instanceof Error ? err.message : String(err)}${typeof code === 'string' ? ` (${code})` : ''}`;
    const refused = refusal(err, this.#where);
    if (refused !== undefined) this.#onStartRefused(refused);
    else if (typeof this.#target !== 'string' && !this.#diagnosed) void this.#diagnoseSeed(this.#target.cluster[0]!);
  }

  #diagnosed = false;

  /**
   * Cluster, while starting: ioredis reports a seed it could not use as "Failed to refresh slots
   * cache" without the cause (a refused TLS certificate, for one). One plain connection to the
   * first seed, with the same settings, tells it; a cause retrying cannot cure fails start() now.
   */
  async #diagnoseSeed(seed: string): Promise<void> {
    this.#diagnosed = true;
    const probe = new Redis(seed, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: this.#opts.startTimeoutMs, enableOfflineQueue: false });
    let cause: unknown;
    probe.on('error', (err: unknown) => (cause ??= err));
    try {
      await probe.connect();
      await probe.ping();
    } catch (err) {
      cause ??= err;
    } finally {
      probe.disconnect();
    }
    if (cause === undefined || this.#onStartRefused === undefined) return;
    const refused = refusal(cause, this.#where);
    if (refused !== undefined) this.#onStartRefused(refused);
  }

  readonly #onRedisError = (err: Error): void => {
    this.#stats.redisErrors++;
    this.#startError(err);
    if (this.#loggedOutage) return; // ioredis repeats the error on every retry: log once per outage
    this.#loggedOutage = true;
    this.#log('warn', 'redis engine: Redis error', { error: err.message });
  };

  readonly #onCmdReady = (): void => {
    if (this.#closed) return;
    this.#cmdUp = true;
    this.#upSince = Date.now();
    void this.#heartbeat();
  };

  readonly #onCmdClose = (): void => {
    if (this.#closed || !this.#cmdUp) return;
    this.#cmdUp = false;
    this.#announced = false;
    this.#reconnected = true;
    this.#update();
  };

  readonly #onSubReady = (): void => {
    const sub = this.#sub;
    if (this.#closed || sub === undefined) return;
    if (this.#keys.cluster) {
      // Heard or not, the probe decides (ioredis resubscribes by itself after a failover).
      (sub as Cluster).ssubscribe(this.#keys.relayChannel(this.nodeId)).then(
        () => void this.#probe(),
        (err: unknown) => this.#onRedisError(err instanceof Error ? err : new Error(String(err))),
      );
      return;
    }
    sub.subscribe(this.#keys.relayChannel(this.nodeId)).then(
      () => {
        if (this.#closed) return;
        this.#subscribed = true;
        this.#update();
      },
      (err: unknown) => this.#onRedisError(err instanceof Error ? err : new Error(String(err))),
    );
  };

  #probing = false;
  /** A probe was asked for while one was in flight (e.g. the subscription just completed): run again. */
  #probeAgain = false;
  #probeMisses = 0;

  /**
   * Cluster: publishes an empty batch on the own channel. `SPUBLISH` answers how many subscribers
   * heard it on the shard that owns the channel: 0 (or an error) means this node would not hear
   * the other nodes, and is not ready. After two misses in a row it subscribes again.
   */
  async #probe(): Promise<void> {
    const cmd = this.#cmd as Cluster | undefined;
    if (this.#closed || cmd === undefined) return;
    if (this.#probing) {
      this.#probeAgain = true;
      return;
    }
    this.#probing = true;
    this.#probeAgain = false;
    let heard = false;
    try {
      heard = Number(await cmd.spublish(this.#keys.relayChannel(this.nodeId), PROBE)) >= 1;
    } catch (err) {
      this.#stats.redisErrors++;
      if (!this.#loggedOutage) this.#log('warn', 'redis engine: relay probe failed', { error: String(err) });
    } finally {
      this.#probing = false;
    }
    if (this.#closed) return;
    this.#probeMisses = heard ? 0 : this.#probeMisses + 1;
    if (this.#probeMisses === 2) {
      (this.#sub as Cluster | undefined)?.ssubscribe(this.#keys.relayChannel(this.nodeId)).catch(() => {});
    }
    if (heard !== this.#subscribed) {
      this.#subscribed = heard;
      this.#update();
    }
    if (this.#probeAgain) void this.#probe();
  }

  readonly #onSubClose = (): void => {
    if (this.#closed || !this.#subscribed) return;
    this.#subscribed = false;
    this.#update();
  };

  #update(): void {
    this.#setReady(this.#cmdUp && this.#announced && this.#subscribed, true);
  }

  #setReady(ready: boolean, notify: boolean): void {
    if (ready === this.#ready) return;
    this.#ready = ready;
    if (ready) {
      this.#loggedOutage = false;
      if (this.#onFirstReady !== undefined) {
        const first = this.#onFirstReady;
        this.#onFirstReady = undefined;
        first();
        return; // start() has not returned yet: no change to report
      }
      this.#log('info', 'redis engine: Redis is back', { nodeId: this.nodeId });
      void this.#reconcile();
    } else if (!this.#closed) {
      this.#log('warn', 'redis engine: Redis unreachable, matching suspended', { nodeId: this.nodeId });
    }
    if (!notify) return;
    try {
      this.#listener?.onReadyChange?.(ready);
    } catch (err) {
      this.#log('error', 'chat listener threw on a readiness change', { error: String(err) });
    }
  }

  // ---- heartbeat, liveness, presence ----

  readonly #heartbeat = async (): Promise<void> => {
    if (this.#closed || !this.#cmdUp || this.#heartbeatRunning) return;
    this.#heartbeatRunning = true;
    const k = this.#keys;
    const own = this.#own;
    this.#stats.heartbeats++;
    try {
      const res = (await this.#eval(
        heartbeatScript,
        [k.nodes, k.presence],
        [k.prefix, this.nodeId, String(this.#opts.deadlineMs), `${own.online},${own.searching},${own.chatting}${encodeLanguages(own.langs)}`, String(this.#opts.deadlineMs * 10)],
      )) as [string, string, string[], string[]];
      if (this.#heartbeatFailed) {
        // Cluster: the queue's shard answers again (failed over, or back): as after a reconnection.
        this.#heartbeatFailed = false;
        this.#upSince = Date.now();
      }
      if (!this.#closed) this.#onHeartbeat(res);
    } catch (err) {
      this.#stats.redisErrors++;
      this.#startError(err); // e.g. NOPERM: an ACL without a command the scripts call
      if (!this.#loggedOutage) this.#log('warn', 'redis engine: heartbeat failed', { error: String(err) });
      if (this.#keys.cluster && !this.#closed) {
        // One shard down leaves the cluster client connected: the failed heartbeat is the outage.
        this.#heartbeatFailed = true;
        this.#reconnected = true;
        this.#loggedOutage = true;
        if (this.#announced) {
          this.#announced = false;
          this.#update();
        }
      }
    } finally {
      this.#heartbeatRunning = false;
    }
    if (this.#keys.cluster && !this.#heartbeatFailed) void this.#probe();
  };

  #onHeartbeat([nowText, prev, nodesFlat, presenceFlat]: [string, string, string[], string[]]): void {
    const rnow = Number(nowText);
    const listener = this.#listener;
    // Out of the cluster for longer than the deadline: the others have (or may have) declared this
    // node dead and ended their conversations with its users. End ours with theirs too.
    if (this.#everAnnounced && (prev === '' || Number(prev) < rnow)) {
      this.#stats.fenced++;
      this.#log('warn', 'redis engine: this node was out of the cluster past its deadline; ending cross-node conversations', { nodeId: this.nodeId });
      for (const node of this.#known) this.#reportDown(node, listener);
      this.#known.clear();
      this.#channels.clear();
      this.#down.clear();
    }
    this.#everAnnounced = true;
    // After a reconnection the others need a moment to re-announce before silence means death.
    const judging = !this.#reconnected || Date.now() - this.#upSince >= 2 * this.#opts.deadlineMs;

    const alive = new Set<string>();
    for (let i = 0; i + 1 < nodesFlat.length; i += 2) {
      const node = nodesFlat[i]!;
      if (node === this.nodeId) continue;
      if (Number(nodesFlat[i + 1]) >= rnow) {
        alive.add(node);
        this.#known.add(node);
        this.#down.delete(node);
      } else if (judging && !this.#down.has(node)) {
        this.#down.add(node);
        this.#known.delete(node);
        this.#reportDown(node, listener);
        void this.#dropNode(node);
      }
    }
    if (judging) {
      // Known nodes whose entry vanished (garbage-collected, or a Redis restart) are dead too.
      for (const node of this.#known) {
        if (alive.has(node)) continue;
        this.#known.delete(node);
        this.#reportDown(node, listener);
      }
      // Forget tombstones once Redis has forgotten them.
      for (const node of this.#down) if (!nodesFlat.includes(node)) this.#down.delete(node);
    }

    const langs: Record<string, number> = {};
    const others: NodeCounts = { online: 0, searching: 0, chatting: 0, langs };
    for (let i = 0; i + 1 < presenceFlat.length; i += 2) {
      const node = presenceFlat[i]!;
      if (node === this.nodeId || !alive.has(node)) continue;
      const fields = presenceFlat[i + 1]!.split(',');
      const [online, searching, chatting] = fields.slice(0, 3).map(Number);
      others.online += online || 0;
      others.searching += searching || 0;
      others.chatting += chatting || 0;
      addLanguages(langs, decodeLanguages(fields[3]));
    }
    this.#others = others;

    if (!this.#announced) {
      this.#announced = true;
      this.#update();
    }
  }

  #reportDown(node: string, listener: EngineListener | undefined): void {
    this.#stats.nodesDown++;
    this.#log('warn', 'redis engine: node down', { node });
    try {
      listener?.onNodeDown(node);
    } catch (err) {
      this.#log('error', 'chat listener threw on a node down', { error: String(err) });
    }
  }

  async #dropNode(node: string): Promise<void> {
    const k = this.#keys;
    this.#stats.maintenanceScripts++;
    try {
      await this.#eval(dropNodeScript, [k.waiters, k.open, k.pend, k.presence, k.nodeWaiters(node)], [k.prefix, node, '0']);
    } catch (err) {
      this.#stats.redisErrors++;
      this.#log('warn', 'redis engine: could not drop a dead node', { node, error: String(err) });
    }
  }

  /**
   * After an outage: puts back this node's waiters that Redis no longer holds (it restarted, or
   * another node dropped them while this one looked dead). A waiter that now finds a partner is
   * announced to both sides with `matched` events, as a pairing by another node would be.
   */
  async #reconcile(): Promise<void> {
    if (this.#waiting.size === 0) return;
    this.#stats.maintenanceScripts++;
    let missing: string[];
    try {
      missing = (await this.#eval(missingScript, [this.#keys.waiters], [...this.#waiting.keys()])) as string[];
    } catch (err) {
      this.#stats.redisErrors++;
      return; // the next recovery tries again
    }
    for (const userId of missing) {
      const w = this.#waiting.get(userId);
      if (w === undefined || !this.#ready) continue;
      this.#stats.reenqueued++;
      try {
        const m = await this.#pairOrEnqueue(w, Date.now());
        if (m === null) continue;
        if (m.question !== undefined) {
          for (const [node, event] of questionEvents(m.question)) this.#send(node, event);
          continue;
        }
        this.#send(this.nodeId, matchedEvent(w, m.partner, m.common));
        this.#send(m.partner.nodeId, matchedEvent(m.partner, w, m.common));
      } catch {
        return;
      }
    }
  }
}

/** A presence report's languages: `,en:3;de:1` (nothing when there are none). */
function encodeLanguages(langs: Readonly<Record<string, number>> | undefined): string {
  if (langs === undefined) return '';
  const parts = Object.entries(langs).map(([k, v]) => `${k}:${v}`);
  return parts.length === 0 ? '' : `,${parts.join(';')}`;
}

/** Reads back {@link encodeLanguages}'s field (absent from older nodes). */
function decodeLanguages(field: string | undefined): Record<string, number> | undefined {
  if (field === undefined || field === '') return undefined;
  const out: Record<string, number> = {};
  for (const part of field.split(';').slice(0, 16)) {
    const [k, v] = part.split(':');
    const n = Number(v);
    if (k !== undefined && /^([a-z]{2,3}|other)$/.test(k) && Number.isSafeInteger(n) && n > 0) out[k] = n;
  }
  return out;
}

async function quit(r: Client | undefined): Promise<void> {
  if (r === undefined) return;
  if (r.status !== 'ready') {
    r.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([r.quit(), new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
  } catch {
    // already gone
  } finally {
    clearTimeout(timer);
    r.disconnect();
  }
}

/**
 * Creates a Redis engine for `target`: a URL (`redis://` or `rediss://`), or `{ cluster: seeds }`
 * for a Redis Cluster. Call `start()` to connect.
 */
export function createRedisEngine(target: RedisTarget, options: RedisEngineOptions = {}): RedisEngine {
  return new RedisEngine(target, options);
}

