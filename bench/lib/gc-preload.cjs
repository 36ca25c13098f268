// Preloaded into benchmark servers (node --expose-gc --require bench/lib/gc-preload.cjs ...):
// SIGUSR2 runs a full garbage collection, so that RSS is read after garbage is gone, the same
// way for every server compared. Nothing else changes in the server.
if (typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc();
  });
}
