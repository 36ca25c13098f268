/**
 * The short fixed-seed pass of the package's fuzz targets (`npm run fuzz -- --seconds N` at the
 * repository's root runs them for longer with a random seed). Inputs that once found a bug are
 * regression tests in the ordinary suites (see docs/security.md).
 */
import { fixedSeedPass } from './fuzz.js';
import { targets } from './targets.js';

/** Inputs per target: a few seconds in all on a 2-core machine. */
fixedSeedPass(targets, { receiver: 4000, 'receiver-model': 2000, handshake: 5000, 'handshake-socket': 400, 'deflate-socket': 400 });
