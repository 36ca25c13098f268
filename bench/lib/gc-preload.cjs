// Preloaded into benchmark servers (node --expose-gc --require bench/lib/gc-preload.cjs ...):
// SIGUSR2 runs a full garbage collection, so that RSS is read after garbage is gone, the same
// way for every server compared, and (when STRANGERS_BENCH_MEMFILE is set) writes
// process.memoryUsage() there as JSON, so that the heap can be told apart from the rest of RSS.
// Nothing else changes in the server.
if (typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc();
    const file = process.env.STRANGERS_BENCH_MEMFILE;
    if (file) require('node:fs').writeFileSync(file, JSON.stringify(process.memoryUsage()));
  });
}
