/** The chat: sessions, matchmaking rules, relay and the wire protocol codec. Never imports src/ws. */
export { ChatService, type ChatLogger, type ChatStats } from './service.js';
export { durationHistogram, observe, type DurationHistogram } from './histogram.js';
export { Session, SessionState } from './session.js';
export { ErrorCode, ServerMessage, parseClientMessage, type ClientMessage, type ParseError } from './codec.js';
export { normalizeInterests } from './interests.js';
export { TokenBucket, StrikeCounter } from './rate.js';
export { Moderation, looksLikeAdvertising, normalizeText, textKey, ConversationLog, type ModerationStats } from './moderation.js';
export { addressKey, addressNetwork, addressSalt } from './identity.js';
export { defaultChatOptions, maxFrameBytes, type ChatOptions } from './options.js';
export { ChatCloseCode, type Peer } from './transport.js';
