/**
 * deploy/prometheus/alerts.yaml and deploy/grafana/strangers.json against the real server: every
 * metric (and label) they use exists in a live /metrics, and promtool accepts the rules, their
 * unit tests, and every dashboard expression.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '../../src/chat/index.js';
import { startServer, stopServersAfterEachTest } from '../integration/helpers.js';
import { parseExposition, ruleExpressions, selectors, type Sample, type Selector } from '../support/prometheus.js';
import { httpsRequest, WssChat } from '../support/tls-client.js';
import { certificates } from '../support/tls-reload.js';

stopServersAfterEachTest();

const root = fileURLToPath(new URL('../../../', import.meta.url));
const alertsPath = join(root, 'deploy/prometheus/alerts.yaml');
const alertTestsPath = join(root, 'deploy/prometheus/alerts.test.yaml');
const dashboardPath = join(root, 'deploy/grafana/strangers.json');
const isCI = process.env.CI === 'true';

/** Series Prometheus makes itself, not our server. */
const synthetic = new Set(['up']);
/** Labels a scrape adds (target labels), never in our /metrics. */
const targetLabels = new Set(['job', 'instance']);
/**
 * Label values our server exports only once they occur: checked against what they can be, not
 * against the scrape.
 */
const lazyValues: Record<string, Record<string, (v: string) => boolean>> = {
  strangers_upgrades_total: { result: (v) => v === 'accepted' || /^[1-5]\d\d$/.test(v) },
  strangers_chat_errors_total: { code: (v) => (Object.values(ErrorCode) as string[]).includes(v) },
};

interface Dashboard {
  panels: Array<{ title: string; targets?: Array<{ expr: string }>; panels?: Dashboard['panels'] }>;
  templating: { list: Array<{ name: string; query?: string | { query: string } }> };
}

/** Every PromQL expression of the dashboard: panel targets, and the metric of each label_values() variable. */
function dashboardExpressions(): string[] {
  const d = JSON.parse(readFileSync(dashboardPath, 'utf8')) as Dashboard;
  const out: string[] = [];
  const walk = (panels: Dashboard['panels']): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) out.push(t.expr);
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  for (const v of d.templating.list) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const m = q === undefined ? null : /^label_values\((.+),\s*\w+\)$/.exec(q);
    if (m !== null) out.push(m[1]!);
  }
  return out;
}

/** A dashboard expression with Grafana's variables replaced, for promtool. */
function concrete(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$job', 'strangers').replaceAll('$instance', '.*');
}

/** A WebSocket upgrade then a frame without a mask, over TLS: a protocol error on the server. */
function protocolError(port: number, token: string): Promise<void> {
  return new Promise((resolve) => {
    const sock = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      sock.write(`GET /ws?session=${token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      sock.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
    });
    sock.on('data', () => {});
    sock.on('error', () => resolve());
    sock.on('close', () => resolve());
  });
}

function check(sel: Selector, samples: readonly Sample[], where: string): void {
  if (synthetic.has(sel.name)) return;
  const mine = samples.filter((s) => s.name === sel.name);
  assert.ok(mine.length > 0, `${where}: ${sel.name} is not in /metrics`);
  for (const { label, op, value } of sel.matchers) {
    if (targetLabels.has(label)) continue;
    assert.ok(
      mine.some((s) => label in s.labels),
      `${where}: ${sel.name} has no label ${label}`,
    );
    // Exact values, and each alternative of a plain `a|b` regex.
    const values = op === '=' ? [value] : op === '=~' && /^[\w|]+$/.test(value) ? value.split('|') : [];
    const allowed = lazyValues[sel.name]?.[label];
    for (const v of values) {
      if (allowed !== undefined) assert.ok(allowed(v), `${where}: ${sel.name}{${label}="${v}"} can never exist`);
      else assert.ok(mine.some((s) => s.labels[label] === v), `${where}: no ${sel.name}{${label}="${v}"} in /metrics`);
    }
  }
}

test('every metric and label that alerts.yaml and the Grafana dashboard use exists in a live /metrics', async (t) => {
  const certs = certificates(t); // TLS on, so that the certificate metrics exist too
  if (certs === undefined) return;
  t.after(() => certs.remove());
  const s = await startServer({ tlsCert: certs.server.cert, tlsKey: certs.server.key, gate: true, powCost: 1, maxPerPerson: 0, internalPort: 0 });
  const port = Number(new URL(s.url).port);
  const token = s.gate!.tokens.issue(Date.now(), 3_600_000).token;
  // A little of everything: a match with a shared interest, lines, an error, a report, a skip.
  const a = await WssChat.open(s.url, `?session=${token}`);
  const b = await WssChat.open(s.url, `?session=${token}`);
  await a.expect('welcome');
  await b.expect('welcome');
  a.send({ type: 'find', interests: ['music'] });
  b.send({ type: 'find', interests: ['music'] });
  await a.expect('searching');
  await b.expect('searching');
  await a.expect('matched');
  await b.expect('matched');
  a.send({ type: 'msg', text: 'hello' });
  await b.expect('msg');
  a.send({ type: 'msg', text: 'x'.repeat(5000) });
  assert.equal((await a.expect('error')).code, 'too_long');
  b.send({ type: 'report', reason: 'spam' });
  await b.expect('reported');
  a.send({ type: 'next' });
  await a.expect('searching');
  await b.expect('ended');
  assert.equal((await httpsRequest(port, '/session/challenge')).status, 200);
  assert.equal((await httpsRequest(port, '/session', 'POST', '{"altcha":"not a solution"}')).status >= 400, true);
  await protocolError(port, token);
  a.close();
  b.close();

  const res = await fetch(`${s.internalUrl}/metrics`);
  assert.equal(res.status, 200);
  const samples = parseExposition(await res.text());
  const rules = ruleExpressions(readFileSync(alertsPath, 'utf8'));
  const panels = dashboardExpressions();
  assert.ok(rules.length >= 15, `rules found: ${rules.length}`);
  assert.ok(panels.length >= 40, `dashboard expressions found: ${panels.length}`);
  const used = new Set<string>();
  for (const [where, exprs] of [['alerts.yaml', rules], ['strangers.json', panels]] as const) {
    for (const expr of exprs) {
      const found = selectors(expr);
      assert.ok(found.length > 0, `${where}: no metric in ${expr}`);
      for (const sel of found) {
        check(sel, samples, `${where} (${expr})`);
        used.add(sel.name);
      }
    }
  }
  t.diagnostic(`${used.size} metrics used, all present: ${[...used].sort().join(' ')}`);
  // The parser finds what is there (a typo must not slip through as "no metric").
  assert.deepEqual(selectors('histogram_quantile(0.95, sum by (le) (rate(strangers_match_wait_sconds_bucket{job="$job"}[5m]))) > 30').map((x) => x.name), ['strangers_match_wait_sconds_bucket']);
  assert.throws(() => check({ name: 'strangers_match_wait_sconds_bucket', matchers: [] }, samples, 'typo'), /not in \/metrics/);
  assert.throws(() => check({ name: 'strangers_users', matchers: [{ label: 'state', op: '=', value: 'chating' }] }, samples, 'typo'), /no strangers_users/);
  assert.throws(() => check({ name: 'strangers_chat_errors_total', matchers: [{ label: 'code', op: '=~', value: 'engine_unavailable|shuting_down' }] }, samples, 'typo'), /can never exist/);
});

test('promtool: the rules are valid, their unit tests pass, every dashboard expression parses', (t) => {
  if (spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status !== 0) {
    if (isCI) throw new Error('promtool is required in CI (Debian package prometheus)');
    return t.skip('promtool not available (Debian package prometheus)');
  }
  const run = (args: string[]): void => {
    const r = spawnSync('promtool', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  };
  run(['check', 'rules', alertsPath]);
  run(['test', 'rules', alertTestsPath]);
  // The dashboard's expressions as recording rules: promtool parses each one.
  const dir = mkdtempSync(join(tmpdir(), 'strangers-dashboard-'));
  try {
    const rules = dashboardExpressions().map((expr, i) => `      - record: strangers:dashboard_${i}\n        expr: ${JSON.stringify(concrete(expr))}\n`);
    const file = join(dir, 'dashboard-rules.yaml');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('')}`);
    run(['check', 'rules', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
