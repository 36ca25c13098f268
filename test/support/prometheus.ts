/**
 * Reading Prometheus figures in tests: the text exposition format parsed into samples, and the
 * metric selectors a PromQL expression uses.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format (the subset prom-client writes). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `labels` (e.g. over workers). */
export function total(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length === 0) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
  return found.reduce((a, s) => a + s.value, 0);
}

/** A metric a PromQL expression selects, with its label matchers. */
export interface Selector {
  name: string;
  matchers: Array<{ label: string; op: '=' | '!=' | '=~' | '!~'; value: string }>;
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric selectors of a PromQL expression: every identifier that is not a function or
 * aggregation (followed by `(`), a keyword, a label list (`by (...)`, `on (...)`...), or inside a
 * range (`[5m]`) or a string. Not a full parser: enough for our rules and dashboard, and it
 * throws on what it does not understand (`{__name__=...}` selectors).
 */
export function selectors(expr: string): Selector[] {
  if (expr.includes('__name__')) throw new Error(`selectors by __name__ are not supported: ${expr}`);
  const out: Selector[] = [];
  let rest = expr
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries: [5m], [$__rate_interval], [1h:5m]
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  // Strings outside braces (e.g. label_replace arguments) must not read as names: blank them,
  // but keep the braces' content, which we parse below.
  const parts: string[] = [];
  let i = 0;
  while (i < rest.length) {
    const open = rest.indexOf('{', i);
    const chunk = rest.slice(i, open === -1 ? rest.length : open);
    parts.push(chunk.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""'));
    if (open === -1) break;
    const close = rest.indexOf('}', open);
    if (close === -1) throw new Error(`unbalanced braces: ${expr}`);
    parts.push(rest.slice(open, close + 1));
    i = close + 1;
  }
  rest = parts.join('');
  const re = /(?<![\w.$"])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?/g;
  for (const m of rest.matchAll(re)) {
    const [, name, braces, call] = m;
    if (call !== undefined && braces === undefined) continue; // a function or an aggregation
    if (KEYWORDS.has(name!.toLowerCase())) continue;
    const matchers: Selector['matchers'] = [];
    for (const l of (braces ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      matchers.push({ label: l[1]!, op: l[2] as Selector['matchers'][number]['op'], value: l[3]! });
    }
    out.push({ name: name!, matchers });
  }
  return out;
}

/**
 * The `expr` values of a Prometheus rule file: `expr: <one line>` or a `|` / `|-` block. Throws
 * on other YAML forms, so that a rule written another way cannot escape the check.
 */
export function ruleExpressions(yaml: string): string[] {
  const lines = yaml.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(?:- )?expr:\s*(.*)$/.exec(lines[i]!);
    if (m === null) continue;
    const value = m[2]!.trim();
    if (value === '|' || value === '|-') {
      const body: string[] = [];
      const indent = m[1]!.length;
      while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || /^\s*/.exec(lines[i + 1]!)![0].length > indent)) body.push(lines[++i]!.trim());
      out.push(body.join(' ').trim());
    } else if (value === '' || value.startsWith('>') || value.startsWith('|')) {
      throw new Error(`line ${i + 1}: write expr on one line or as a | block`);
    } else {
      out.push(value.replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1'));
    }
  }
  return out;
}
