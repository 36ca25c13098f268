/**
 * The app's fuzz targets: the chat message parser (packages/websocket/test/fuzz has the frame
 * receiver's and the upgrade checks').
 */
import { codecTargets } from './codec.js';
import type { FuzzTarget } from '../../packages/websocket/test/fuzz/fuzz.js';

export type { FuzzBudget, FuzzReport, FuzzTarget } from '../../packages/websocket/test/fuzz/fuzz.js';

export const targets: readonly FuzzTarget[] = [...codecTargets];
