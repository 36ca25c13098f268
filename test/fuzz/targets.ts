/**
 * Every fuzz target, in the order `npm run fuzz` runs them: the frame receiver, the HTTP upgrade
 * checks and the chat message parser (what each checks is in its own file).
 */
import { codecTargets } from './codec.js';
import type { FuzzTarget } from './fuzz.js';
import { handshakeTargets } from './handshake.js';
import { receiverTargets } from './receiver.js';

export type { FuzzBudget, FuzzReport, FuzzTarget } from './fuzz.js';

export const targets: readonly FuzzTarget[] = [...receiverTargets, ...handshakeTargets, ...codecTargets];
