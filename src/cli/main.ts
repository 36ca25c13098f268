#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * `strangers <command>`: dispatches to the command's module, loaded on demand so that
 * `serve` never loads the load generator and vice versa.
 */
import { resolve } from 'node:path';
import { limitYoungGeneration } from './heap.js';

const commands: Record<string, { summary: string; load: () => Promise<{ main(argv: string[]): Promise<number | void> }> }> = {
  serve: { summary: 'run the chat server', load: () => import('./serve.js') },
  bench: { summary: 'measure a Strangers server with a generated load', load: () => import('./bench.js') },
};

/** The release version; test/cli/main.test.ts checks it matches package.json. */
export const VERSION = '0.1.0';

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `usage: strangers <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'strangers <command> --help' for the command's options.`;
}

/** Runs one command line; resolves to the exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? console.error : console.log)(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    console.log(VERSION);
    return 0;
  }
  const command = commands[name];
  if (command === undefined) {
    console.error(`strangers: unknown command '${name}' (expected one of: ${Object.keys(commands).join(', ')})`);
    return 2;
  }
  // Before the server's modules load: the young generation keeps its initial size (heap.ts).
  if (name === 'serve') limitYoungGeneration();
  const mod = await command.load();
  const code = await mod.main(rest);
  return typeof code === 'number' ? code : 0;
}

/**
 * The command line without node and the script. A cluster worker of the single binary is
 * started as `<binary> <binary> serve ...` (node:cluster passes the script path, and the binary
 * is the script): the repeated executable is dropped.
 */
function commandLine(): string[] {
  const args = process.argv.slice(2);
  if (args[0] !== undefined && resolve(args[0]) === process.execPath) return args.slice(1);
  return args;
}

// No top-level await: the single-binary build bundles this file as CommonJS.
run(commandLine()).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`strangers: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
