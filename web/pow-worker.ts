/**
 * The proof-of-work solver, in a Web Worker so that the page never stalls: altcha-lib's worker
 * loop (the messages `solveChallengeWorkers` sends: `work` with a share of the counters, `abort`)
 * over WebCrypto's PBKDF2. Bundled on its own as dist/web/pow-worker.js; same origin, so the
 * page's Content-Security-Policy (`script-src 'self'`) allows it.
 */
import { handler } from 'altcha-lib/workers/shared';
import { deriveKey } from 'altcha-lib/algorithms/web/pbkdf2';

handler({ deriveKey });
