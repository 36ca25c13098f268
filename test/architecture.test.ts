/**
 * The layout shows the architecture, and this keeps it so: dependencies point one way
 * (cli → http → chat → engine; http → the WebSocket package; chat never imports it; the engine
 * imports neither), the app reaches the WebSocket package only through its public entry point
 * (`@strangers/websocket`), the package imports nothing but Node's built-ins and its own files,
 * and no module imports itself back through a cycle (static or dynamic imports).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every module specifier a file imports or re-exports, statically or with import(). */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/gm)) found.push(m[1]!);
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) found.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) found.push(m[1]!);
  return found;
}

/** The repository-relative file a relative specifier names (.js → .ts). */
function target(from: string, spec: string): string {
  return relative(ROOT, resolve(dirname(from), spec.replace(/\.js$/, '.ts')));
}

const app = sources(join(ROOT, 'src'));
const pkg = sources(join(ROOT, 'packages', 'websocket', 'src'));
const graph = new Map<string, string[]>();
for (const file of [...app, ...pkg]) {
  graph.set(relative(ROOT, file), specifiers(file).filter((s) => s.startsWith('.')).map((s) => target(file, s)));
}

test('the app reaches the WebSocket package only through @strangers/websocket', () => {
  const bad = app.flatMap((file) => specifiers(file)
    .filter((s) => /websocket|packages\/|\/ws\//.test(s) && s !== '@strangers/websocket')
    .map((s) => `${relative(ROOT, file)} imports ${s}`));
  assert.deepEqual(bad, []);
  assert.ok(app.some((file) => specifiers(file).includes('@strangers/websocket')), 'the app does use the package');
});

test('the WebSocket package imports only node: built-ins and its own files', () => {
  const bad = pkg.flatMap((file) => specifiers(file)
    .filter((s) => !s.startsWith('node:') && !(s.startsWith('./') && !target(file, s).startsWith('..')))
    .map((s) => `${relative(ROOT, file)} imports ${s}`));
  assert.deepEqual(bad, []);
});

test('dependencies point one way: cli → http → chat → engine; chat never imports the WebSocket layer', () => {
  const layer = (path: string): string => path.split('/')[1] ?? '';
  // What each folder of src/ may import besides itself.
  const allowed: Record<string, readonly string[]> = {
    engine: [],
    session: ['engine'],
    chat: ['engine'],
    http: ['chat', 'engine', 'session', '@strangers/websocket'],
    bench: ['chat', '@strangers/websocket'],
    cli: ['http', 'chat', 'engine', 'session', 'bench', '@strangers/websocket'],
  };
  const bad: string[] = [];
  for (const file of app) {
    const from = layer(relative(ROOT, file));
    const rules = allowed[from];
    assert.ok(rules, `src/${from} has a rule`);
    for (const spec of specifiers(file)) {
      const to = spec.startsWith('.') ? layer(target(file, spec)) : spec;
      if (spec.startsWith('.') && to === from) continue;
      if (!spec.startsWith('.') && spec !== '@strangers/websocket') continue; // node: and npm packages
      if (!rules.includes(to)) bad.push(`${relative(ROOT, file)} (${from}) imports ${spec} (${to})`);
    }
  }
  assert.deepEqual(bad, []);
});

test('no import cycles', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].join(' → '));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  assert.deepEqual(cycles, []);
});
