/**
 * The server's young generation stays small, however it is started.
 *
 * V8 grows the young generation (two semi-spaces, 1 MiB each at start) up to 16 MiB each when
 * many objects survive a scavenge, which is what a burst of handshakes looks like, and keeps
 * what it grew: an idle server then holds 2x16 MiB of young space it no longer needs, which is
 * 1.6-3.2 KiB per user at 10,000 users, more than a bare socket costs, and more in one run than
 * in the next depending on how the burst went. `npm start` and the bin's shebang pass
 * `--max-semi-space-size=2`, but the single executable cannot (Node 20's SEA has no execArgv)
 * and `node dist/src/cli/main.js serve` does not. A semi-space's maximum is fixed when the heap
 * is set up, but its growth factor is read at each growth: set to 1 before the first growth, the
 * young generation keeps its initial size for good. Measured in docs/benchmarks.md (issue 13):
 * RSS per idle user 2.4-3.7 KiB instead of 4.6-5.8 without a forced GC; the old generation still
 * keeps some of what the burst promoted.
 *
 * An operator sizes it with `--min-semi-space-size=N` on node's command line (MiB: the initial
 * size, kept), or restores V8's growth with `--semi-space-growth-factor`, which this then leaves
 * alone (Node refuses both in NODE_OPTIONS). `--max-semi-space-size` (the deployment files pass 2)
 * changes nothing more.
 */
import { setFlagsFromString } from 'node:v8';

export function limitYoungGeneration(): boolean {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  if (/semi[-_]space[-_]growth[-_]factor/.test(given)) return false;
  setFlagsFromString('--semi-space-growth-factor=1');
  return true;
}
