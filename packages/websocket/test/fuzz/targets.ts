/**
 * The package's fuzz targets, in the order `npm run fuzz` runs them: the frame receiver and the
 * HTTP upgrade checks, permessage-deflate (what each checks is in its own file).
 */
import type { FuzzTarget } from './fuzz.js';
import { deflateTargets } from './deflate.js';
import { handshakeTargets } from './handshake.js';
import { receiverTargets } from './receiver.js';

export type { FuzzBudget, FuzzReport, FuzzTarget } from './fuzz.js';

export const targets: readonly FuzzTarget[] = [...receiverTargets, ...handshakeTargets, ...deflateTargets];
