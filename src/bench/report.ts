/**
 * The result of a benchmark run and its three renderings: a human summary (text), JSON, and
 * a self-contained HTML page (inline SVG, no external assets).
 */
import { Histogram, type HistogramJSON } from './histogram.js';
import type { Counters, Scenario } from './ipc.js';
import type { ProcSample } from './procstat.js';
import type { LostLastLines, MergedWindow } from './restart.js';

/** One second of the run. */
export interface TimelinePoint {
  /** Seconds since the start. */
  readonly t: number;
  readonly open: number;
  readonly msgsPerSec: number;
  readonly matchesPerSec: number;
  readonly connectsPerSec: number;
  /** p99 latency of the messages delivered in this second (µs). */
  readonly p99Us: number;
  readonly serverCpuPercent: number | null;
  readonly serverRssBytes: number | null;
  readonly generatorCpuPercent: number;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface ServerFigures {
  readonly pid: number;
  /** CPU seconds used during the measured window, and as a percentage of one core. */
  readonly cpuSeconds: number;
  readonly cpuPercent: number;
  readonly rssBaselineBytes: number;
  readonly rssEndBytes: number;
  readonly rssPeakBytes: number;
}

/** One restart window of a `--resume` run (see restart.ts), over every worker. */
export interface RestartWindowSummary {
  readonly index: number;
  /** Seconds since the start of the run; `endS` null: still open at the end. */
  readonly startS: number;
  readonly endS: number | null;
  /** The same on the machine's monotonic clock (µs, `process.hrtime`), to line up with other processes' records. */
  readonly startUs: number;
  readonly endUs: number | null;
  /** Connections that dropped in the window. */
  readonly drops: number;
  /** Resumes that failed or came back out of the conversation. */
  readonly failed: number;
  /** From a connection's drop to its `resumed`. */
  readonly resumeMs: LatencySummary;
  /** Delay (send -> receive) of the messages sent or delivered in the window. */
  readonly latencyMs: LatencySummary;
}

/** Everything a run measured. Units are in the names; times in ms unless `Us`. */
export interface BenchResult {
  readonly scenario: Scenario;
  readonly url: string;
  readonly startedAt: string;
  readonly interrupted: boolean;
  readonly machine: { readonly nproc: number; readonly cpu: string; readonly node: string; readonly loadavg: readonly number[] };
  readonly settings: Record<string, unknown>;
  readonly workers: ReadonlyArray<{ readonly connections: number; readonly localAddresses: readonly string[] }>;
  readonly connect: {
    readonly wanted: number;
    readonly attempted: number;
    readonly connected: number;
    readonly seconds: number;
    readonly perSec: number;
    readonly failures: Record<string, number>;
    readonly latencyMs: LatencySummary;
  };
  /** The measured window: from `go` (or the end of the warm-up) to the end of the drain. */
  readonly windowSeconds: number;
  /** Seconds of scenario before the window (not measured). */
  readonly warmupSeconds: number;
  readonly openAtEnd: number;
  readonly matches: number;
  readonly matchesPerSec: number;
  readonly messages: {
    readonly sent: number;
    readonly delivered: number;
    readonly perSec: number;
    readonly lost: number;
    readonly misdelivered: number;
    readonly gaps: number;
    readonly reordered: number;
    readonly asymmetricPairs: number;
    readonly droppedBySender: number;
  };
  readonly latencyMs: LatencySummary;
  readonly latencyHistogram: HistogramJSON;
  readonly unexpectedCloses: Record<string, number>;
  readonly unexpectedEnded: Record<string, number>;
  readonly serverErrors: Record<string, number>;
  readonly garbled: number;
  readonly servers: readonly ServerFigures[];
  /** Sums over every --server-pid (null without one). */
  readonly server: null | {
    readonly cpuSeconds: number;
    readonly cpuPercent: number;
    readonly rssEndBytes: number;
    readonly rssPerConnectionBytes: number | null;
    readonly messagesPerCpuSecond: number | null;
    readonly matchesPerCpuSecond: number | null;
  };
  readonly generator: {
    readonly cores: number;
    readonly workerCpuPercent: readonly number[];
    readonly coordinatorCpuSeconds: number;
    readonly bottleneck: boolean;
  };
  readonly timeline: readonly TimelinePoint[];
  /** `--resume` only (null otherwise): reconnections, resumes, and the delays in and out of restart windows. */
  readonly resume: null | {
    /** Connections closed under the clients (by the server or a drop), by close code: each reconnected. */
    readonly closes: Record<string, number>;
    /** Reconnection attempts refused or failed (the next URL was tried), by cause. */
    readonly reconnectFailures: Record<string, number>;
    readonly resumes: number;
    readonly resumeFailed: number;
    /** Messages replayed after a resume that the client already had: repeats by design, set aside. */
    readonly replayed: number;
    readonly acks: number;
    /** Clients still cut off when the run ended. */
    readonly awayAtEnd: number;
    /** Sends skipped because the server's close frame had come (the client learns of the close a moment later). */
    readonly closingSends: number;
    /**
     * The messages missing inside conversations that were their sender's last before its
     * connection was closed under it (sent before the client saw the close, perhaps after the
     * server stopped reading), with how long before.
     */
    readonly lostLastLines: { readonly missing: number; readonly lastBeforeClose: number; readonly minMsBeforeClose: number | null; readonly maxMsBeforeClose: number | null };
    /** Delay of the messages outside every window (after the warm-up). */
    readonly steadyMs: LatencySummary;
    readonly windows: readonly RestartWindowSummary[];
  };
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
  readonly ok: boolean;
}

/** The raw material the coordinator hands over. */
export interface ResultInput {
  readonly options: { readonly scenario: Scenario; readonly url: string; readonly connections: number; readonly duration: number };
  readonly startedAt: Date;
  readonly workers: ReadonlyArray<{ readonly connections: number; readonly localAddresses: readonly string[] }>;
  readonly connectSeconds: number;
  readonly connectPhaseTimedOut: boolean;
  readonly windowSeconds: number;
  readonly scenarioSeconds: number;
  readonly warmupSeconds: number;
  readonly atGo: Counters;
  readonly atEnd: Counters;
  readonly final: Counters;
  readonly latency: Histogram;
  readonly connectLatency: Histogram;
  readonly asymmetric: number;
  readonly serverPids: readonly number[];
  readonly serverBaseline: ReadonlyArray<ProcSample | undefined>;
  readonly serverAtGo: ReadonlyArray<ProcSample | undefined>;
  readonly serverAtEnd: ReadonlyArray<ProcSample | undefined>;
  readonly generator: { readonly workerCpuSecondsInWindow: readonly number[]; readonly coordinatorCpuSeconds: number; readonly cores: number };
  readonly machine: BenchResult['machine'];
  readonly timeline: readonly TimelinePoint[];
  /** --resume: the workers' restart windows, merged. */
  readonly restart?: { readonly steady: Histogram; readonly windows: readonly MergedWindow[]; readonly lostLastLines: LostLastLines } | undefined;
  /** The run's start on the monotonic clock (µs), the origin of the windows' `startS`. */
  readonly t0Us?: number;
  readonly interrupted: boolean;
  readonly elapsedSeconds: number;
}

/** A worker busier than this share of its core, over the window, was the bottleneck. */
const BOTTLENECK_SHARE = 0.9;

/** Latency percentiles in milliseconds from a histogram of microseconds. */
export function summarize(h: Histogram): LatencySummary {
  const ms = (us: number): number => Math.round(us) / 1000;
  return { count: h.count, p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), p999: ms(h.percentile(99.9)), max: ms(h.max), mean: ms(h.mean) };
}

function nonZero(map: Record<string, number>): boolean {
  return Object.values(map).some((n) => n > 0);
}

function listCounts(map: Record<string, number>): string {
  const e = Object.entries(map).filter(([, n]) => n > 0);
  return e.length === 0 ? 'none' : e.map(([k, n]) => `${k} ${n}`).join(', ');
}

/** Computes the derived figures and the list of problems (server misbehaviour) and warnings. */
export function buildResult(i: ResultInput): BenchResult {
  const { final, atGo, atEnd } = i;
  const win = Math.max(i.windowSeconds, 1e-9);
  const delivered = atEnd.received - atGo.received;
  const matches = (atEnd.matchedEvents - atGo.matchedEvents) / 2;
  const connectFailures = { ...final.connectFailures };
  const notSettled = i.options.connections - final.connected - Object.values(final.connectFailures).reduce((a, b) => a + b, 0);
  if (i.connectPhaseTimedOut && notSettled > 0) connectFailures.connect_phase_timeout = notSettled;

  const servers: ServerFigures[] = i.serverPids.map((pid, k) => {
    const base = i.serverBaseline[k];
    const go = i.serverAtGo[k];
    const end = i.serverAtEnd[k];
    const cpu = go && end ? end.cpuSeconds - go.cpuSeconds : 0;
    return {
      pid,
      cpuSeconds: cpu,
      cpuPercent: (100 * cpu) / win,
      rssBaselineBytes: base?.rssBytes ?? 0,
      rssEndBytes: end?.rssBytes ?? 0,
      rssPeakBytes: end?.peakRssBytes ?? 0,
    };
  });
  let server: BenchResult['server'] = null;
  if (servers.length > 0) {
    const cpu = servers.reduce((a, s) => a + s.cpuSeconds, 0);
    const rssEnd = servers.reduce((a, s) => a + s.rssEndBytes, 0);
    const rssBase = servers.reduce((a, s) => a + s.rssBaselineBytes, 0);
    server = {
      cpuSeconds: cpu,
      cpuPercent: (100 * cpu) / win,
      rssEndBytes: rssEnd,
      rssPerConnectionBytes: atEnd.open > 0 ? (rssEnd - rssBase) / atEnd.open : null,
      messagesPerCpuSecond: cpu > 0 && delivered > 0 ? delivered / cpu : null,
      matchesPerCpuSecond: cpu > 0 && matches > 0 ? matches / cpu : null,
    };
  }

  const workerCpuPercent = i.generator.workerCpuSecondsInWindow.map((s) => (100 * s) / win);
  const totalGen = workerCpuPercent.reduce((a, b) => a + b, 0);
  const bottleneck = workerCpuPercent.some((p) => p >= 100 * BOTTLENECK_SHARE) || totalGen >= 100 * BOTTLENECK_SHARE * i.generator.cores;

  const lost = Math.max(0, final.sent - final.received);
  const problems: string[] = [];
  if (lost > 0) problems.push(`${lost} messages lost (sent ${final.sent}, delivered ${final.received})`);
  if (final.misdelivered > 0) problems.push(`${final.misdelivered} messages misdelivered`);
  if (final.gaps > 0) problems.push(`${final.gaps} messages missing inside conversations`);
  if (final.reordered > 0) problems.push(`${final.reordered} messages out of order or duplicated`);
  if (i.asymmetric > 0) problems.push(`${i.asymmetric} clients whose partner had another partner`);
  if (nonZero(final.unexpectedCloses)) problems.push(`unexpected closes: ${listCounts(final.unexpectedCloses)}`);
  if (nonZero(final.unexpectedEnded)) problems.push(`unexpected ended: ${listCounts(final.unexpectedEnded)}`);
  if (nonZero(final.serverErrors)) problems.push(`server errors: ${listCounts(final.serverErrors)}`);
  if (nonZero(connectFailures)) problems.push(`connection failures: ${listCounts(connectFailures)}`);
  if (final.garbled > 0) problems.push(`${final.garbled} messages not understood`);
  let resume: BenchResult['resume'] = null;
  const warnings: string[] = [];
  if (i.restart !== undefined) {
    const t0 = i.t0Us ?? 0;
    resume = {
      closes: final.resumeCloses,
      reconnectFailures: final.reconnectFailures,
      resumes: final.resumes,
      resumeFailed: final.resumeFailed,
      replayed: final.replayed,
      acks: final.acks,
      awayAtEnd: atEnd.away,
      closingSends: final.closingSends,
      lostLastLines: {
        missing: i.restart.lostLastLines.missing,
        lastBeforeClose: i.restart.lostLastLines.lastBeforeClose,
        minMsBeforeClose: i.restart.lostLastLines.minUsBeforeClose === null ? null : i.restart.lostLastLines.minUsBeforeClose / 1000,
        maxMsBeforeClose: i.restart.lostLastLines.maxUsBeforeClose === null ? null : i.restart.lostLastLines.maxUsBeforeClose / 1000,
      },
      steadyMs: summarize(i.restart.steady),
      windows: i.restart.windows.map((w) => ({
        index: w.index,
        startS: (w.startUs - t0) / 1e6,
        endS: w.endUs === null ? null : (w.endUs - t0) / 1e6,
        startUs: w.startUs,
        endUs: w.endUs,
        drops: w.drops,
        failed: w.failed,
        resumeMs: summarize(w.resume),
        latencyMs: summarize(w.latency),
      })),
    };
    if (final.resumeFailed > 0) problems.push(`${final.resumeFailed} resumes failed`);
    if (atEnd.away > 0) problems.push(`${atEnd.away} clients still cut off at the end (not resumed)`);
    const open = resume.windows.filter((w) => w.endS === null).length;
    if (open > 0) warnings.push(`${open} restart window(s) still open at the end (a partner away, or a client not back)`);
  }
  if (bottleneck) {
    warnings.push(
      `the load generator was the bottleneck: its busiest worker used ${Math.max(0, ...workerCpuPercent).toFixed(0)}% of a core ` +
        `(${workerCpuPercent.length} worker(s), ${i.generator.cores} core(s) available); compare servers by work per server CPU-second, not by rates`,
    );
  }
  if (final.dropped > 0) warnings.push(`${final.dropped} sends refused by the client's own buffer cap (not counted as sent)`);
  if (i.interrupted) warnings.push('interrupted: partial result');
  if (i.machine.loadavg[0] > i.machine.nproc * 0.75) warnings.push(`machine load average ${i.machine.loadavg[0].toFixed(2)} at the end: figures may be noisy`);

  const { signal: _s, onTick: _t, ...settings } = i.options as unknown as Record<string, unknown>;
  return {
    scenario: i.options.scenario,
    url: i.options.url,
    startedAt: i.startedAt.toISOString(),
    interrupted: i.interrupted,
    machine: i.machine,
    settings,
    workers: i.workers,
    connect: {
      wanted: i.options.connections,
      attempted: final.attempted,
      connected: final.connected,
      seconds: i.connectSeconds,
      perSec: i.connectSeconds > 0 ? atGo.connected / i.connectSeconds : 0,
      failures: connectFailures,
      latencyMs: summarize(i.connectLatency),
    },
    windowSeconds: i.windowSeconds,
    warmupSeconds: i.warmupSeconds,
    openAtEnd: atEnd.open,
    matches,
    matchesPerSec: matches / win,
    messages: {
      sent: final.sent,
      delivered: final.received,
      perSec: delivered / win,
      lost,
      misdelivered: final.misdelivered,
      gaps: final.gaps,
      reordered: final.reordered,
      asymmetricPairs: i.asymmetric,
      droppedBySender: final.dropped,
    },
    latencyMs: summarize(i.latency),
    latencyHistogram: i.latency.toJSON(),
    unexpectedCloses: final.unexpectedCloses,
    unexpectedEnded: final.unexpectedEnded,
    serverErrors: final.serverErrors,
    garbled: final.garbled,
    servers,
    server,
    generator: { cores: i.generator.cores, workerCpuPercent, coordinatorCpuSeconds: i.generator.coordinatorCpuSeconds, bottleneck },
    timeline: i.timeline,
    resume,
    problems,
    warnings,
    ok: problems.length === 0,
  };
}

// ---- text -------------------------------------------------------------------------------

/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

/** 12345.6 -> "12346", 12.34 -> "12.3", 0.1234 -> "0.123". */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  return a >= 100 ? n.toFixed(0) : a >= 10 ? n.toFixed(1) : a >= 1 ? n.toFixed(2) : n.toFixed(3);
}

function latencyLine(l: LatencySummary): string {
  return `p50 ${formatNumber(l.p50)} ms  p90 ${formatNumber(l.p90)} ms  p99 ${formatNumber(l.p99)} ms  p99.9 ${formatNumber(l.p999)} ms  max ${formatNumber(l.max)} ms`;
}

/** The human summary printed at the end of a run. */
export function formatSummary(r: BenchResult): string {
  const lines: string[] = [];
  const c = r.connect;
  lines.push(`strangers bench ${r.scenario} -> ${r.url}: ${c.wanted} connections over ${r.workers.length} worker(s), window ${r.windowSeconds.toFixed(1)} s${r.warmupSeconds > 0 ? ` after ${r.warmupSeconds.toFixed(1)} s of warm-up` : ''}${r.interrupted ? ' (interrupted)' : ''}`);
  lines.push(`connect    ${c.connected}/${c.wanted} in ${c.seconds.toFixed(1)} s (${formatNumber(c.perSec)}/s); failures: ${listCounts(c.failures)}; handshake+welcome ${latencyLine(c.latencyMs)}`);
  if (r.scenario !== 'idle') {
    lines.push(`matches    ${Math.round(r.matches)} (${formatNumber(r.matchesPerSec)}/s)`);
    const m = r.messages;
    lines.push(`messages   sent ${m.sent}, delivered ${m.delivered} (${formatNumber(m.perSec)}/s); lost ${m.lost}, misdelivered ${m.misdelivered}, gaps ${m.gaps}, reordered ${m.reordered}`);
    lines.push(`latency    ${latencyLine(r.latencyMs)}`);
  }
  if (r.resume) {
    const z = r.resume;
    lines.push(`resume     closed under us: ${listCounts(z.closes)}; resumed ${z.resumes}, failed ${z.resumeFailed}; reconnects refused: ${listCounts(z.reconnectFailures)}; repeats set aside ${z.replayed}; acks ${z.acks}; sends skipped on a closing connection ${z.closingSends}`);
    const l = z.lostLastLines;
    if (l.missing > 0) lines.push(`missing    ${l.missing} messages; ${l.lastBeforeClose} of them their sender's last before its connection was closed under it (sent ${formatNumber(l.minMsBeforeClose ?? 0)}-${formatNumber(l.maxMsBeforeClose ?? 0)} ms before the client saw the close)`);
    for (const w of z.windows) {
      const span = w.endS === null ? `from ${w.startS.toFixed(1)} s, still open` : `${w.startS.toFixed(1)}-${w.endS.toFixed(1)} s (${formatNumber(w.endS - w.startS)} s)`;
      lines.push(`restart ${w.index}  ${span}: ${w.drops} dropped, ${w.resumeMs.count} resumed (${w.failed} failed) in p50 ${formatNumber(w.resumeMs.p50)} ms  max ${formatNumber(w.resumeMs.max)} ms; ${w.latencyMs.count} messages: ${latencyLine(w.latencyMs)}`);
    }
    lines.push(`steady     ${z.steadyMs.count} messages: ${latencyLine(z.steadyMs)}`);
  }
  for (const s of r.servers) {
    lines.push(`server     pid ${s.pid}: cpu ${s.cpuSeconds.toFixed(2)} s (${s.cpuPercent.toFixed(1)}% of a core), rss ${formatBytes(s.rssBaselineBytes)} -> ${formatBytes(s.rssEndBytes)} (peak ${formatBytes(s.rssPeakBytes)})`);
  }
  if (r.server) {
    const parts = [`rss/connection ${r.server.rssPerConnectionBytes === null ? '-' : formatBytes(r.server.rssPerConnectionBytes)}`];
    if (r.server.messagesPerCpuSecond !== null) parts.push(`${formatNumber(r.server.messagesPerCpuSecond)} msgs per server cpu-second`);
    if (r.server.matchesPerCpuSecond !== null) parts.push(`${formatNumber(r.server.matchesPerCpuSecond)} matches per server cpu-second`);
    lines.push(`per server ${parts.join(', ')}`);
  }
  lines.push(`generator  cpu per worker ${r.generator.workerCpuPercent.map((p) => `${p.toFixed(0)}%`).join(' ')} of a core (${r.generator.cores} core(s) available)`);
  for (const w of r.warnings) lines.push(`WARNING    ${w}`);
  lines.push(r.ok ? 'result     OK: no lost or misdelivered messages, no unexpected closes' : `result     FAIL: ${r.problems.join('; ')}`);
  return lines.join('\n');
}

/** The progress line shown on a terminal. */
export function formatProgress(p: TimelinePoint, wanted: number): string {
  const parts = [`${p.t.toFixed(0)}s`, `conns ${p.open}/${wanted}`, `msgs/s ${formatNumber(p.msgsPerSec)}`, `matches/s ${formatNumber(p.matchesPerSec)}`, `p99 ${formatNumber(p.p99Us / 1000)} ms`];
  if (p.serverCpuPercent !== null) parts.push(`server cpu ${p.serverCpuPercent.toFixed(0)}%`);
  if (p.serverRssBytes !== null) parts.push(`rss ${formatBytes(p.serverRssBytes)}`);
  parts.push(`gen cpu ${p.generatorCpuPercent.toFixed(0)}%`);
  return parts.join('  ');
}

// ---- HTML -------------------------------------------------------------------------------

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Bars of the latency histogram (log-spaced buckets, merged into ~60 columns). */
function histogramSvg(json: HistogramJSON): string {
  const W = 720;
  const H = 220;
  const pad = 40;
  const b = Histogram.fromJSON(json).buckets();
  if (b.length === 0) return '<p>No messages.</p>';
  const lo = Math.log10(Math.max(1, b[0].low));
  const hi = Math.log10(Math.max(10, b[b.length - 1].high + 1));
  const cols = 60;
  const sums = new Array<number>(cols).fill(0);
  for (const x of b) {
    const k = Math.min(cols - 1, Math.floor(((Math.log10(Math.max(1, x.low)) - lo) / (hi - lo || 1)) * cols));
    sums[k] += x.count;
  }
  const max = Math.max(...sums);
  const bw = (W - 2 * pad) / cols;
  const bars = sums
    .map((s, k) => {
      const h = max > 0 ? ((H - 2 * pad) * s) / max : 0;
      return s > 0 ? `<rect x="${(pad + k * bw).toFixed(1)}" y="${(H - pad - h).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="#4a7ab5"><title>${s}</title></rect>` : '';
    })
    .join('');
  const ticks: string[] = [];
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
    const x = pad + ((e - lo) / (hi - lo || 1)) * (W - 2 * pad);
    const us = 10 ** e;
    const label = us >= 1000 ? `${us / 1000} ms` : `${us} µs`;
    ticks.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${H - pad}" y2="${H - pad + 5}" stroke="#333"/><text x="${x.toFixed(1)}" y="${H - pad + 18}" font-size="11" text-anchor="middle">${label}</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="latency histogram"><line x1="${pad}" x2="${W - pad}" y1="${H - pad}" y2="${H - pad}" stroke="#333"/>${bars}${ticks.join('')}<text x="${W / 2}" y="${H - 4}" font-size="12" text-anchor="middle">latency (log scale)</text></svg>`;
}

/** A line chart of one timeline series. */
function lineSvg(points: ReadonlyArray<readonly [number, number]>, label: string, color: string): string {
  const W = 720;
  const H = 200;
  const pad = 50;
  if (points.length === 0) return '';
  const maxX = Math.max(1, ...points.map((p) => p[0]));
  const maxY = Math.max(1e-9, ...points.map((p) => p[1]));
  const path = points.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${(pad + (x / maxX) * (W - 2 * pad)).toFixed(1)},${(H - pad - (y / maxY) * (H - 2 * pad)).toFixed(1)}`).join(' ');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="${esc(label)}">` +
    `<line x1="${pad}" x2="${W - pad}" y1="${H - pad}" y2="${H - pad}" stroke="#333"/><line x1="${pad}" x2="${pad}" y1="${pad}" y2="${H - pad}" stroke="#333"/>` +
    `<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>` +
    `<text x="${pad - 4}" y="${pad + 4}" font-size="11" text-anchor="end">${esc(formatNumber(maxY))}</text><text x="${pad - 4}" y="${H - pad}" font-size="11" text-anchor="end">0</text>` +
    `<text x="${W - pad}" y="${H - pad + 16}" font-size="11" text-anchor="end">${maxX.toFixed(0)} s</text>` +
    `<text x="${W / 2}" y="${pad - 10}" font-size="13" text-anchor="middle">${esc(label)}</text></svg>`
  );
}

/** A self-contained HTML report: summary, latency histogram, throughput and connections over time. */
export function renderHtml(r: BenchResult): string {
  const tl = r.timeline;
  const charts = [
    r.scenario === 'churn'
      ? lineSvg(tl.map((p) => [p.t, p.matchesPerSec] as const), 'matches per second', '#2a8f4a')
      : lineSvg(tl.map((p) => [p.t, p.msgsPerSec] as const), 'messages delivered per second', '#2a8f4a'),
    lineSvg(tl.map((p) => [p.t, p.open] as const), 'open connections', '#b5654a'),
    lineSvg(tl.map((p) => [p.t, p.p99Us / 1000] as const), 'p99 latency per second (ms)', '#8a4ab5'),
  ];
  if (tl.some((p) => p.serverCpuPercent !== null)) charts.push(lineSvg(tl.map((p) => [p.t, p.serverCpuPercent ?? 0] as const), 'server CPU (% of a core)', '#b54a7a'));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>strangers bench ${esc(r.scenario)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:800px;margin:2em auto;color:#222}pre{background:#f4f4f4;padding:1em;overflow-x:auto;white-space:pre-wrap}.fail{color:#b00}.ok{color:#070}</style>
</head><body>
<h1>strangers bench ${esc(r.scenario)}</h1>
<p>${esc(r.url)} — ${esc(r.startedAt)} — ${esc(r.machine.cpu)} × ${r.machine.nproc}, Node ${esc(r.machine.node)}</p>
<p class="${r.ok ? 'ok' : 'fail'}">${r.ok ? 'OK: no lost or misdelivered messages, no unexpected closes' : esc('FAIL: ' + r.problems.join('; '))}</p>
<pre>${esc(formatSummary(r))}</pre>
<h2>Latency</h2>
${histogramSvg(r.latencyHistogram)}
<h2>Over time</h2>
${charts.join('\n')}
</body></html>
`;
}
