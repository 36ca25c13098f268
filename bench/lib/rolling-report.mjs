// The Markdown report of bench/rolling.mjs, from its JSON (so that it can be rendered again).
import { fmt } from './common.mjs';

/** The drain's outcome and duration from a node's stop line. */
function drained(restart) {
  for (const line of restart.log ?? []) {
    try {
      const j = JSON.parse(line);
      if (j.event === 'stop' && typeof j.ms === 'number') return `${j.ms} ms (${j.outcome}, ${j.users} users)`;
    } catch {}
  }
  return '-';
}

const list = (m) => Object.entries(m ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';

/** @param {any} results what bench/rolling.mjs writes to rolling.json */
export function renderRolling(results) {
  const s = results.settings;
  const r = results.result;
  const z = r.resume;
  const rows = [];
  const line = (label, l) => rows.push(`| ${label} | ${l.count} | ${fmt(l.p50)} | ${fmt(l.p99)} | ${fmt(l.max)} |`);
  line('steady state (outside the restart windows, after the warm-up)', z.steadyMs);
  const windowRows = [];
  for (const w of z.windows) {
    // A window belongs to the restart whose SIGTERM came last before it opened.
    const owner = [...results.restarts].reverse().find((x) => w.startUs >= x.sigtermUs);
    const name = owner ? `restart of ${owner.node}` : `window ${w.index}, before any restart`;
    line(`${name}: sent or delivered during its window`, w.latencyMs);
    const span = w.endUs === null ? 'still open at the end' : fmt((w.endUs - w.startUs) / 1000);
    const after = owner ? fmt((w.startUs - owner.sigtermUs) / 1000) : '-';
    windowRows.push(`| ${name} | ${after} | ${span} | ${w.drops} | ${w.resumeMs.count} | ${w.failed} | ${fmt(w.resumeMs.p50)} / ${fmt(w.resumeMs.p99)} / ${fmt(w.resumeMs.max)} |`);
  }
  const ended = Object.values(r.unexpectedEnded).reduce((a, b) => a + b, 0);
  return [
    `Machine: ${results.machine.cpu} x ${results.machine.nproc}, Node ${results.machine.node}`,
    `Start: ${results.machine.uptime}`,
    `End: ${results.machine.uptimeAtEnd}`,
    `Load: \`${results.command}\` (ports vary); both nodes and redis-server pinned to core ${s.serverCpu}, the load to the other core.`,
    `Restarts: node A ${s.before} s after all ${2 * s.pairs} clients were chatting, node B ${s.between} s after A listened again; resume window ${s.resumeWindow}, drain timeout ${s.drainTimeout}.`,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| conversations ended (an \`ended\`, or a resume that lost the conversation) | ${ended} (${list(r.unexpectedEnded)}) |`,
    `| messages sent / delivered | ${r.messages.sent} / ${r.messages.delivered} |`,
    `| messages lost | ${r.messages.lost} (holes inside conversations: ${r.messages.gaps}) |`,
    ...(z.lostLastLines && z.lostLastLines.missing > 0
      ? [`| of the missing, the sender's last line before the server closed its connection | ${z.lostLastLines.lastBeforeClose} of ${z.lostLastLines.missing} (sent ${fmt(z.lostLastLines.minMsBeforeClose)}-${fmt(z.lostLastLines.maxMsBeforeClose)} ms before the client saw the close) |`]
      : []),
    `| messages duplicated (delivered again under a new seq) or out of order | ${r.messages.reordered} |`,
    `| messages misdelivered | ${r.messages.misdelivered} |`,
    `| replays of a seq the client had (repeats by design, set aside) | ${z.replayed} |`,
    `| connections closed under the clients, by code | ${list(z.closes)} |`,
    `| resumes / resume_failed | ${z.resumes} / ${z.resumeFailed} |`,
    `| reconnections refused (the next URL tried) | ${list(z.reconnectFailures)} |`,
    `| clients still cut off at the end | ${z.awayAtEnd} |`,
    `| acks sent | ${z.acks} |`,
    ...(z.closingSends !== undefined ? [`| sends skipped: the server's close frame had come | ${z.closingSends} |`] : []),
    ...results.restarts.map((x) => `| ${x.node}: SIGTERM to drained (its log) / to exit / to listening again | ${drained(x)} / ${x.exitMs} ms / ${x.backMs} ms (exit ${x.exit.code ?? x.exit.signal}) |`),
    `| load generator, busiest worker | ${fmt(Math.max(0, ...r.generator.workerCpuPercent))} % of a core |`,
    `| bench verdict | ${r.ok ? 'OK' : `FAIL: ${r.problems.join('; ')}`} |`,
    '',
    'Delay of each message from its sending to its delivery (ms):',
    '',
    '| messages | count | p50 | p99 | max |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    'Restart windows (from the first client cut off or told `away` to the last one back), times in ms:',
    '',
    '| restart | opened after SIGTERM | lasted | connections dropped | resumed | failed | drop to `resumed` p50 / p99 / max |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...windowRows,
    '',
  ].join('\n');
}
