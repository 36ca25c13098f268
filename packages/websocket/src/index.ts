/**
 * Strangers' WebSocket layer: RFC 6455 from the handshake up, on node:http and node:crypto.
 * See docs/architecture.md for the API in one page.
 */
export { WebSocketServer, serverDefaults, type WebSocketServerOptions } from './server.js';
export { WebSocketConnection, SendResult, ReadyState, type ConnectionHandler, type ConnectionLimits } from './connection.js';
export { connect, type ConnectOptions } from './client.js';
export { CloseCode, ErrorCodes, WebSocketError, isValidCloseCode, type ErrorCode, type ErrorKind } from './errors.js';
export { Receiver, Opcode, type ReceiverSink, type ReceiverOptions } from './receiver.js';
export { encodeFrame, encodeHeader, closePayload, headerSize, ZERO_COPY_THRESHOLD } from './sender.js';
export { acceptKey, checkUpgrade, selectProtocol, acceptResponse, errorResponse, WEBSOCKET_GUID, type HandshakeResult, type HandshakeRules } from './handshake.js';
export { utf8Step, UTF8_ACCEPT, UTF8_REJECT } from './utf8.js';
export { deflateDefaults, parseExtensions, type PerMessageDeflateOptions, type ExtensionElement } from './extensions.js';
