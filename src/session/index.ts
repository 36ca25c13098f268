/** The anonymous session behind a proof-of-work gate. Depends on the engine only (and altcha-lib). */
export { SessionGate, GateError, gateDefaults, type GateOptions, type GateStats, type ChallengeResult, type RedeemResult } from './gate.js';
export { SessionTokens, TokenError, type SessionClaims } from './token.js';
