/**
 * The short fixed-seed pass of the app's fuzz targets (`npm run fuzz -- --seconds N` runs them
 * for longer with a random seed); the WebSocket package's are in packages/websocket/test/fuzz.
 */
import { fixedSeedPass } from '../../packages/websocket/test/fuzz/fuzz.js';
import { targets } from './targets.js';

/** Inputs per target: a few seconds in all on a 2-core machine. */
fixedSeedPass(targets, { codec: 10_000 });
