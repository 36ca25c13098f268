#!/usr/bin/env node
/**
 * `strangers <command>`: dispatches to the command's module, loaded on demand so that
 * `serve` never loads the load generator and vice versa.
 */
const commands: Record<string, { summary: string; load: () => Promise<{ main(argv: string[]): Promise<number | void> }> }> = {
  serve: { summary: 'run the chat server', load: () => import('./serve.js') },
  bench: { summary: 'measure a Strangers server with a generated load', load: () => import('./bench.js') },
  echo: { summary: 'run a WebSocket echo server (for conformance testing)', load: () => import('./echo.js') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `usage: strangers <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'strangers <command> --help' for the command's options.`;
}

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
  console.log(usage());
  process.exit(name === undefined ? 2 : 0);
}
const command = commands[name];
if (command === undefined) {
  console.error(`strangers: unknown command '${name}' (expected one of: ${Object.keys(commands).join(', ')})`);
  process.exit(2);
}
const mod = await command.load();
const code = await mod.main(rest);
if (typeof code === 'number') process.exitCode = code;
