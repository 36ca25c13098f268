/**
 * The catalogue of WebSocket errors: every failure has a stable `code` (for tests, logs and
 * metrics) and the close code it causes (RFC 6455 section 7.4.1).
 */

/** Close codes used by this layer (RFC 6455 section 7.4.1). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  /** Reserved: never sent; reported when a close frame had no status code. */
  noStatus: 1005,
  /** Reserved: never sent; reported when the TCP connection closed without a close frame. */
  abnormal: 1006,
  invalidPayload: 1007,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  /** RFC 6455 7.4.1 (IANA registry): the service is restarted; a client may reconnect. */
  serviceRestart: 1012,
  tryAgainLater: 1013,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Stable error codes and the close code each one causes. */
export const ErrorCodes = {
  /** RFC 6455 5.1: "a server MUST close the connection upon receiving a frame that is not masked". */
  unmaskedFrame: { code: 'unmasked_frame', close: CloseCode.protocolError },
  /** RFC 6455 5.1: "a client MUST close a connection if it detects a masked frame". */
  maskedFrame: { code: 'masked_frame', close: CloseCode.protocolError },
  /**
   * RFC 6455 5.2: RSV1-3 "MUST be 0 unless an extension is negotiated". With permessage-deflate,
   * RFC 7692 6: RSV1 only on the first frame of a data message; never on a continuation frame
   * ("the "Per-Message Compressed" bit MUST be 0" there) nor on a control frame.
   */
  reservedBits: { code: 'reserved_bits', close: CloseCode.protocolError },
  /** RFC 6455 5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved. */
  reservedOpcode: { code: 'reserved_opcode', close: CloseCode.protocolError },
  /** RFC 6455 5.5: "Control frames themselves MUST NOT be fragmented". */
  fragmentedControl: { code: 'fragmented_control', close: CloseCode.protocolError },
  /** RFC 6455 5.5: "All control frames MUST have a payload length of 125 bytes or less". */
  controlTooLong: { code: 'control_too_long', close: CloseCode.protocolError },
  /** A continuation frame with no message in progress. */
  unexpectedContinuation: { code: 'unexpected_continuation', close: CloseCode.protocolError },
  /** A new text or binary frame while a fragmented message is still in progress. */
  expectedContinuation: { code: 'expected_continuation', close: CloseCode.protocolError },
  /** RFC 6455 5.2: in the 64-bit length "the most significant bit MUST be 0". */
  invalidLength: { code: 'invalid_length', close: CloseCode.protocolError },
  /** A close frame whose payload is a single byte. */
  invalidClosePayload: { code: 'invalid_close_payload', close: CloseCode.protocolError },
  /** A close code that is reserved, unassigned or out of range (RFC 6455 7.4). */
  invalidCloseCode: { code: 'invalid_close_code', close: CloseCode.protocolError },
  /** RFC 6455 8.1: text must be valid UTF-8, close reasons too. */
  invalidUtf8: { code: 'invalid_utf8', close: CloseCode.invalidPayload },
  /**
   * The message would exceed the configured maximum size: decided from the frame header, or,
   * for a compressed message, while it inflates (before the excess is held in memory).
   */
  messageTooBig: { code: 'message_too_big', close: CloseCode.messageTooBig },
  /** permessage-deflate: a compressed message that zlib cannot inflate (RFC 7692 7.2.2). */
  invalidCompressedData: { code: 'invalid_compressed_data', close: CloseCode.invalidPayload },
  /** permessage-deflate: our own compressor failed (a zlib error; not expected to happen). */
  compressionFailed: { code: 'compression_failed', close: CloseCode.internalError },
  /** The peer does not read fast enough: its outgoing buffer passed the cap. */
  bufferOverflow: { code: 'buffer_overflow', close: CloseCode.policyViolation },
  /** The peer did not answer a ping in time. */
  heartbeatTimeout: { code: 'heartbeat_timeout', close: CloseCode.abnormal },
  /** Client side: the server refused or botched the opening handshake. */
  handshakeFailed: { code: 'handshake_failed', close: CloseCode.abnormal },
} as const;
/** One entry of {@link ErrorCodes}: a stable code and the close code it causes. */
export type ErrorKind = (typeof ErrorCodes)[keyof typeof ErrorCodes];
/** The stable codes of {@link WebSocketError} (`'invalid_utf8'`, `'message_too_big'`, ...). */
export type ErrorCode = ErrorKind['code'];

/** An error of the WebSocket layer, with a stable code and the close code it causes. */
export class WebSocketError extends Error {
  /** The stable code: what tests, logs and metrics use. */
  readonly code: ErrorCode;
  /** The close code this error causes (RFC 6455 7.4.1). */
  readonly closeCode: number;
  /** For `handshake_failed`: the HTTP status the server answered, if any. */
  readonly status: number | undefined;

  constructor(kind: ErrorKind, message: string, status?: number) {
    super(message);
    this.name = 'WebSocketError';
    this.code = kind.code;
    this.closeCode = kind.close;
    this.status = status;
  }
}

/**
 * RFC 6455 7.4: may this code appear in a close frame on the wire?
 * 1000-1003, 1007-1014 (registered for use) and 3000-4999 (libraries, applications) are valid;
 * 1004 (reserved), 1005, 1006, 1015 (never sent) and everything else are not.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}
