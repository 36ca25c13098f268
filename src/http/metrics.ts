/**
 * `GET /metrics` in the Prometheus text format (prom-client).
 *
 * Nothing here runs per message: the chat, the WebSocket server and the engine keep plain
 * integer totals, and every metric reads them when Prometheus scrapes. Counters mirror those
 * totals (they only grow, so the difference since the last scrape is added).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ChatService } from '../chat/index.js';
import type { Engine } from '../engine/engine.js';
import type { SessionGate } from '../session/index.js';
import type { WebSocketServer } from '../ws/index.js';

/** What the metrics read, owned by the server. */
export interface MetricsSources {
  readonly chat: ChatService;
  readonly wss: WebSocketServer<unknown>;
  readonly engine: Engine;
  /** WebSocket protocol errors by stable code (bad frames, too big, slow consumer...). */
  readonly protocolErrors: ReadonlyMap<string, number>;
  /** The session gate, when it is on. */
  readonly gate?: SessionGate | undefined;
}

/** A counter that follows a running total kept elsewhere. */
function mirror(counter: Counter<string>, labels: Record<string, string>, seen: Map<string, number>, total: number): void {
  // Keyed by metric and labels: several counters have no labels at all.
  const key = `${(counter as unknown as { name: string }).name}${JSON.stringify(labels)}`;
  const delta = total - (seen.get(key) ?? 0);
  counter.inc(labels, Math.max(0, delta)); // 0 too: every known label is exported from the start
  seen.set(key, total);
}

export function createMetrics(sources: MetricsSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'strangers_' });
  const { chat, wss, engine } = sources;
  const seen = new Map<string, number>();

  new Gauge({
    name: 'strangers_connections',
    help: 'Open WebSocket connections on this node.',
    registers: [registry],
    collect() {
      this.set(wss.size);
    },
  });
  new Gauge({
    name: 'strangers_users',
    help: 'Users on this node by state.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const c = chat.counts();
      this.set({ state: 'searching' }, c.searching);
      this.set({ state: 'chatting' }, c.chatting);
    },
  });
  new Gauge({
    name: 'strangers_cluster_users',
    help: 'Users in the whole cluster: online, searching, chatting.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const c = chat.clusterCounts();
      this.set({ state: 'online' }, c.online);
      this.set({ state: 'searching' }, c.searching);
      this.set({ state: 'chatting' }, c.chatting);
    },
  });
  new Gauge({
    name: 'strangers_engine_ready',
    help: '1 while the engine can match and relay (Redis reachable), else 0.',
    registers: [registry],
    collect() {
      this.set(engine.ready() ? 1 : 0);
    },
  });
  new Counter({
    name: 'strangers_upgrades_total',
    help: 'WebSocket upgrade requests: accepted, or refused with an HTTP status.',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      mirror(this, { result: 'accepted' }, seen, wss.stats.accepted);
      for (const [status, n] of wss.stats.refused) mirror(this, { result: String(status) }, seen, n);
    },
  });
  new Counter({
    name: 'strangers_ws_protocol_errors_total',
    help: 'Connections failed by a WebSocket protocol error, by code.',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      for (const [code, n] of sources.protocolErrors) mirror(this, { code }, seen, n);
    },
  });
  new Counter({
    name: 'strangers_messages_total',
    help: 'Chat lines relayed, to a partner on this node (local) or on another node (remote).',
    labelNames: ['path'],
    registers: [registry],
    collect() {
      mirror(this, { path: 'local' }, seen, chat.stats.messagesLocal);
      mirror(this, { path: 'remote' }, seen, chat.stats.messagesRemote);
    },
  });
  new Counter({
    name: 'strangers_matched_total',
    help: 'Users told they have a partner, on this node.',
    registers: [registry],
    collect() {
      mirror(this, {}, seen, chat.stats.matched);
    },
  });
  new Counter({
    name: 'strangers_ended_total',
    help: 'Conversations ended, as told to users on this node, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const [reason, n] of Object.entries(chat.stats.ended)) mirror(this, { reason }, seen, n);
    },
  });
  new Counter({
    name: 'strangers_chat_errors_total',
    help: 'Error messages sent to clients, by code.',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      for (const [code, n] of Object.entries(chat.stats.errors)) if (n > 0) mirror(this, { code }, seen, n);
    },
  });
  const moderation = chat.moderation;
  new Counter({
    name: 'strangers_reports_total',
    help: 'Reports users made on this node, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const [reason, n] of Object.entries(moderation.stats.reports)) mirror(this, { reason }, seen, n);
    },
  });
  new Counter({
    name: 'strangers_bans_total',
    help: 'Bans that reports made on this node caused.',
    registers: [registry],
    collect() {
      mirror(this, {}, seen, moderation.stats.bans);
    },
  });
  new Gauge({
    name: 'strangers_bans_in_force',
    help: 'Persons banned right now, cluster-wide (from the engine; -1 when it cannot be read).',
    registers: [registry],
    async collect() {
      try {
        this.set(await engine.moderation.bansInForce(Date.now()));
      } catch {
        this.set(-1);
      }
    },
  });
  new Counter({
    name: 'strangers_spam_dropped_total',
    help: 'Copies of a spam wave dropped on this node (the sender is not told).',
    registers: [registry],
    collect() {
      mirror(this, {}, seen, moderation.stats.spamDropped);
    },
  });
  const gate = sources.gate;
  if (gate !== undefined) {
    new Counter({
      name: 'strangers_sessions_issued_total',
      help: 'Sessions issued by POST /session on this node.',
      registers: [registry],
      collect() {
        mirror(this, {}, seen, gate.stats.issued);
      },
    });
    new Counter({
      name: 'strangers_session_challenges_total',
      help: 'Proof-of-work challenges handed out by GET /session/challenge on this node.',
      registers: [registry],
      collect() {
        mirror(this, {}, seen, gate.stats.challenges);
      },
    });
    new Counter({
      name: 'strangers_session_challenges_failed_total',
      help: 'Requests to /session and /session/challenge refused, by error code (invalid_solution, replayed, rate_limited...).',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        for (const [reason, n] of Object.entries(gate.stats.failed)) if (n > 0) mirror(this, { reason }, seen, n);
      },
    });
    new Counter({
      name: 'strangers_upgrades_unauthorized_total',
      help: 'WebSocket upgrades refused with 401: no session, or a forged, altered or expired one.',
      registers: [registry],
      collect() {
        mirror(this, {}, seen, gate.stats.unauthorized);
      },
    });
  }
  return registry;
}
