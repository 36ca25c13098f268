/**
 * What the chat needs from a connection. A WebSocketConnection of src/ws satisfies it
 * structurally; the chat never imports the WebSocket layer.
 */
export interface Peer {
  /** Sends one text message; the result (sent / queued / dropped) is the transport's business. */
  send(text: string): unknown;
  /** Closes the connection with a WebSocket close code and a short reason. */
  close(code?: number, reason?: string): void;
}

/** Close codes the chat asks for (RFC 6455 7.4.1). */
export const ChatCloseCode = {
  /** Server going down. */
  goingAway: 1001,
  /** The client kept flooding after `rate_limited`. */
  policyViolation: 1008,
  /** Server restarting: resume on another node (RFC 6455 7.4.1 "Service Restart"). */
  serviceRestart: 1012,
  /** This connection's place was resumed by a newer connection. */
  replaced: 4000,
} as const;
