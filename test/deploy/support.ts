/**
 * Helpers for the deployment tests (test/deploy/): external tools that may be missing (skip with a
 * message on a user's machine, fail in CI: the skipUnlessCI pattern of test/contract/redis-server.ts),
 * a TypeScript check of JSON-like data against a published type (excess properties are errors at
 * every depth, which a JSON-schema validator without `additionalProperties: false` lets through),
 * and `strangers serve` processes on chosen ports.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export { freePort, isCI, skipUnlessCI } from '../contract/redis-server.js';

/** The repository's root (dist/test/deploy/ is three levels below it). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** A file of the repository, as text. */
export function repoFile(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
}

/**
 * Undefined when `command` runs (`args` usually asks for its version), else why it cannot: a
 * message naming the Debian package that brings it (`.ci/run` installs them).
 */
export function missingTool(command: string, args: readonly string[], debianPackage: string): string | undefined {
  const r = spawnSync(command, args, { stdio: 'ignore' });
  return r.status === 0 ? undefined : `${command} is not installed (Debian: apt-get install ${debianPackage})`;
}

/** Runs a command to completion (bounded): exit status and output. */
export function run(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, {
    cwd: options.cwd ?? repoRoot,
    env: options.env ?? process.env,
    input: options.input,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** One value to check against a type exported by a package. */
export interface TypedValue {
  /** Where it comes from, for messages (e.g. `deploy/kubernetes/strangers.yaml#2 Service/strangers`). */
  label: string;
  /** The module that exports the type, e.g. `kubernetes-models/apps/v1/Deployment`. */
  module: string;
  /** The exported type's name, e.g. `IDeployment`. */
  type: string;
  value: unknown;
}

/**
 * Type-checks each value as an object literal of its type with the TypeScript compiler: unknown
 * keys (a misspelt `readinesProbe`), wrong types, missing required keys and values outside a
 * string-literal union are all errors. Returns one line per error, naming the value's label.
 */
export function typeCheck(values: readonly TypedValue[]): string[] {
  // A virtual file at the repository's root, so that packages resolve from its node_modules.
  const file = join(repoRoot, '__deploy_typecheck__.ts');
  const lines: string[] = [];
  const owner: string[] = [];
  values.forEach((v, i) => {
    lines.push(`import type { ${v.type} as T${i} } from ${JSON.stringify(v.module)};`);
  });
  values.forEach((v, i) => {
    const json = JSON.stringify(v.value, null, 2).split('\n');
    const start = lines.length;
    lines.push(`export const v${i}: T${i} = ${json[0]}`, ...json.slice(1));
    lines[lines.length - 1] += ';';
    for (let l = start; l < lines.length; l++) owner[l] = v.label;
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, languageVersion, ...rest) =>
    name === file ? ts.createSourceFile(name, source, languageVersion, true) : getSourceFile(name, languageVersion, ...rest);
  host.fileExists = (name) => name === file || fileExists(name);
  host.readFile = (name) => (name === file ? source : readFile(name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (d.file === undefined || d.start === undefined) return text;
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    const lineText = d.file.fileName === file ? (lines[line] ?? '').trim() : '';
    return `${owner[line] ?? d.file.fileName}: ${text}${lineText ? ` (at ${lineText})` : ''}`;
  });
}

/** The built CLI. */
export const cli = join(repoRoot, 'dist/src/cli/main.js');

/** A `strangers serve` process on a port chosen by the test (so that it can come back on it). */
export class ServeProcess {
  readonly lines: string[] = [];
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly proc: ChildProcess,
    readonly group: boolean,
  ) {
    this.#exited = new Promise((done) => proc.once('exit', (code, signal) => done({ code, signal })));
  }

  /**
   * Starts `node <cli> serve ...args` and waits (up to 15 s) for its start line. With `group`, the
   * command runs in a process group of its own and signals go to the whole group (for wrappers
   * such as npx that do not pass signals on to the server they start).
   */
  static async start(args: readonly string[], env: NodeJS.ProcessEnv = {}, command: readonly string[] = [process.execPath, cli], group = false): Promise<ServeProcess> {
    const [exe, ...pre] = command;
    const proc = spawn(exe!, [...pre, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, detached: group });
    const p = new ServeProcess(proc, group);
    await new Promise<void>((ready, fail) => {
      let buf = '';
      const timer = setTimeout(() => {
        p.#signal('SIGKILL');
        fail(new Error(`strangers serve did not start: ${p.lines.join('\n')}`));
      }, 15_000);
      timer.unref?.();
      proc.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          p.lines.push(line);
          if (/"event":"start"/.test(line)) {
            clearTimeout(timer);
            ready();
          }
        }
      });
      proc.stderr!.on('data', (d: Buffer) => p.lines.push(d.toString()));
      proc.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`strangers serve exited with ${code}: ${p.lines.join('\n')}`));
      });
    });
    return p;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  #signal(signal: NodeJS.Signals): void {
    if (this.group && this.proc.pid !== undefined) {
      try {
        process.kill(-this.proc.pid, signal);
      } catch {
        // the group is gone
      }
    } else {
      this.proc.kill(signal);
    }
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `ms`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) {
      this.#signal(signal);
      const timer = setTimeout(() => this.#signal('SIGKILL'), ms);
      const r = await this.#exited;
      clearTimeout(timer);
      return r;
    }
    return this.#exited;
  }
}

/** True if a file exists in the repository. */
export function repoHas(path: string): boolean {
  return existsSync(join(repoRoot, path));
}
