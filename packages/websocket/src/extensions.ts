/**
 * permessage-deflate negotiation (RFC 7692 section 7.1): parsing `Sec-WebSocket-Extensions`
 * (RFC 6455 9.1), the server's choice among a client's offers, the client's offer and its
 * checks of the server's answer. Pure functions on strings: no sockets, no zlib.
 */

/** One element of a `Sec-WebSocket-Extensions` list: a name and its parameters, in order. */
export interface ExtensionElement {
  /** Lower-cased extension token, e.g. `permessage-deflate`. */
  readonly name: string;
  /** Lower-cased parameter names with their value (unquoted), or `true` for a parameter without one. */
  readonly params: ReadonlyArray<readonly [string, string | true]>;
}

/**
 * Options of permessage-deflate (RFC 7692), for {@link WebSocketServerOptions.perMessageDeflate}
 * and {@link ConnectOptions.perMessageDeflate}. The defaults differ by side; each is given for both.
 */
export interface PerMessageDeflateOptions {
  /**
   * Server: always answer with `server_no_context_takeover` (RFC 7692 7.1.1.1 lets a server add it
   * to any offer), so the server compresses every message on its own and keeps no deflate
   * context between messages. With `false` it still honours a client that asks for it.
   * Client: ask for it in the offer (a server that does not grant it fails the connection).
   * @default true on the server, false on the client
   */
  serverNoContextTakeover?: boolean;
  /**
   * Server: always answer with `client_no_context_takeover` (RFC 7692 7.1.1.2), so the client
   * compresses every message on its own and the server keeps no inflate context between
   * messages. With `false` it is granted only when the client offers it.
   * Client: offer it.
   * @default true on the server, false on the client
   */
  clientNoContextTakeover?: boolean;
  /**
   * The largest LZ77 window (base-2 log, 9 to 15) the server compresses with. Server: answers an
   * offer with the smaller of this and the offered `server_max_window_bits` (and names it when
   * under 15). Client: asks for it in the offer. 8 is not supported: zlib cannot compress with a
   * 256-byte window, so offers asking for 8 are declined.
   * @default 15 on the server, not asked for by the client
   */
  serverMaxWindowBits?: number;
  /**
   * The largest LZ77 window (9 to 15) the client compresses with. Server: when the offer carries
   * `client_max_window_bits`, answers with this value if it is smaller than the offered one
   * (a smaller window means less inflate memory per connection with context takeover).
   * Client: the value put on the `client_max_window_bits` it always offers.
   * @default 15 (not asked for)
   */
  clientMaxWindowBits?: number;
  /**
   * Messages smaller than this many bytes are sent uncompressed (RFC 7692 lets each message
   * choose): deflate barely shrinks them and costs a zlib round trip.
   * @default 1024
   */
  threshold?: number;
  /** zlib compression level, 0 (none) to 9 (best, slowest); -1 is zlib's default (6). @default -1 */
  level?: number;
  /**
   * zlib memLevel, 1 to 9: the deflate context takes about 2^(memLevel+9) + 2^(windowBits+2)
   * bytes while it exists.
   * @default 8
   */
  memLevel?: number;
}

/** The parameters one connection negotiated, as seen from its own side. Interned: shared by connections. */
export interface DeflateParams {
  /** The agreed `Sec-WebSocket-Extensions` value, normalised (what `extensions` reports). */
  readonly header: string;
  /** Our compressor resets after each message (no context takeover). */
  readonly ownNoContextTakeover: boolean;
  /** Our compressor's window bits (9-15). */
  readonly ownWindowBits: number;
  /** The peer's compressor resets after each message: our inflater may too. */
  readonly peerNoContextTakeover: boolean;
  /** Window bits for our inflater (9-15): never smaller than what the peer may use. */
  readonly peerWindowBits: number;
}

/** Options with every default applied and validated. */
export interface ResolvedDeflateOptions {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  readonly serverMaxWindowBits: number | undefined;
  readonly clientMaxWindowBits: number | undefined;
  readonly threshold: number;
  readonly level: number;
  readonly memLevel: number;
}

/** Defaults of {@link PerMessageDeflateOptions} on each side. */
export const deflateDefaults = {
  server: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: undefined },
  client: { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: undefined, clientMaxWindowBits: undefined },
  threshold: 1024,
  level: -1,
  memLevel: 8,
} as const;

/** Applies the defaults of one side and validates; throws RangeError on a bad option (API misuse). */
export function resolveDeflateOptions(options: boolean | PerMessageDeflateOptions | undefined,
  side: 'server' | 'client'): ResolvedDeflateOptions | null {
  if (options === undefined || options === false) return null;
  const o = options === true ? {} : options;
  const d = deflateDefaults[side];
  const bits = (name: string, value: number | undefined): number | undefined => {
    if (value === undefined) return undefined;
    if (!Number.isInteger(value) || value < 9 || value > 15) throw new RangeError(`perMessageDeflate.${name} must be an integer from 9 to 15`);
    return value;
  };
  const threshold = o.threshold ?? deflateDefaults.threshold;
  if (!Number.isInteger(threshold) || threshold < 0) throw new RangeError('perMessageDeflate.threshold must be an integer >= 0');
  const level = o.level ?? deflateDefaults.level;
  if (!Number.isInteger(level) || level < -1 || level > 9) throw new RangeError('perMessageDeflate.level must be an integer from -1 to 9');
  const memLevel = o.memLevel ?? deflateDefaults.memLevel;
  if (!Number.isInteger(memLevel) || memLevel < 1 || memLevel > 9) throw new RangeError('perMessageDeflate.memLevel must be an integer from 1 to 9');
  return {
    serverNoContextTakeover: o.serverNoContextTakeover ?? d.serverNoContextTakeover,
    clientNoContextTakeover: o.clientNoContextTakeover ?? d.clientNoContextTakeover,
    serverMaxWindowBits: bits('serverMaxWindowBits', o.serverMaxWindowBits ?? d.serverMaxWindowBits),
    clientMaxWindowBits: bits('clientMaxWindowBits', o.clientMaxWindowBits ?? d.clientMaxWindowBits),
    threshold,
    level,
    memLevel,
  };
}

// RFC 7230 3.2.6: token = 1*tchar.
function isTchar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
    // ! # $ % & ' * + - . ^ _ ` | ~
    c === 0x21 || (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b || c === 0x2d || c === 0x2e ||
    c === 0x5e || c === 0x5f || c === 0x60 || c === 0x7c || c === 0x7e
  );
}

/**
 * Parses a `Sec-WebSocket-Extensions` value (RFC 6455 9.1: `1#extension`, `extension =
 * token *(";" token ["=" (token | quoted-string)])`). An element whose syntax is broken comes
 * back as `null` (it can only be declined); empty list elements are skipped.
 */
export function parseExtensions(header: string): (ExtensionElement | null)[] {
  const out: (ExtensionElement | null)[] = [];
  const n = header.length;
  let i = 0;
  const ows = (): void => {
    while (i < n && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x09)) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && isTchar(header.charCodeAt(i))) i++;
    return header.slice(start, i);
  };
  /** A quoted-string (i at the opening quote); null when unterminated or holding a control character. */
  const quoted = (): string | null => {
    i++;
    let value = '';
    while (i < n) {
      const c = header.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return value;
      }
      if (c === 0x5c) {
        i++;
        if (i >= n) return null;
      } else if (c < 0x20 && c !== 0x09) return null;
      value += header[i];
      i++;
    }
    return null;
  };
  while (i < n) {
    ows();
    if (i >= n) break;
    if (header.charCodeAt(i) === 0x2c) {
      i++;
      continue;
    }
    let ok = true;
    const name = token();
    const params: [string, string | true][] = [];
    if (name === '') ok = false;
    ows();
    while (ok && i < n && header.charCodeAt(i) === 0x3b) {
      i++;
      ows();
      const param = token();
      if (param === '') {
        ok = false;
        break;
      }
      ows();
      let value: string | true = true;
      if (i < n && header.charCodeAt(i) === 0x3d) {
        i++;
        ows();
        const v = i < n && header.charCodeAt(i) === 0x22 ? quoted() : token();
        if (v === null || v === '') {
          ok = false;
          break;
        }
        value = v;
        ows();
      }
      params.push([param.toLowerCase(), value]);
    }
    if (ok && i < n && header.charCodeAt(i) !== 0x2c) ok = false;
    if (!ok) {
      // Skip to the next element, stepping over quoted strings.
      while (i < n && header.charCodeAt(i) !== 0x2c) {
        if (header.charCodeAt(i) === 0x22) {
          if (quoted() === null) i = n;
        } else i++;
      }
    }
    out.push(ok ? { name: name.toLowerCase(), params } : null);
    i++; // the comma
  }
  return out;
}

/** RFC 7692 7.1.2: "a decimal integer value without leading zeroes between 8 to 15 inclusive". */
function windowBits(value: string | true): number | null {
  if (value === true || !/^(?:8|9|1[0-5])$/.test(value)) return null;
  return Number(value);
}

const interned = new Map<string, DeflateParams>();

function intern(header: string, ownNoContextTakeover: boolean, ownWindowBits: number, peerNoContextTakeover: boolean,
  peerWindowBits: number): DeflateParams {
  const key = `${header}|${ownNoContextTakeover}|${ownWindowBits}|${peerNoContextTakeover}|${peerWindowBits}`;
  let params = interned.get(key);
  if (params === undefined) {
    params = Object.freeze({ header, ownNoContextTakeover, ownWindowBits, peerNoContextTakeover, peerWindowBits });
    interned.set(key, params);
  }
  return params;
}

/** The parameters of one `permessage-deflate` element, checked against RFC 7692 section 7. */
interface ParsedParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  /** `true`: present without a value (allowed in an offer only). */
  clientMaxWindowBits: number | true | undefined;
}

/**
 * RFC 7692 7: an element with "an extension parameter not defined for use", "an extension
 * parameter with an invalid value" or "multiple extension parameters with the same name" is
 * invalid: null, with the reason.
 */
function readParams(params: ExtensionElement['params']): ParsedParams | string {
  const parsed: ParsedParams = {
    serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: undefined, clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (seen.has(name)) return `parameter ${name} appears twice`;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) return `parameter ${name} takes no value`;
        if (name === 'server_no_context_takeover') parsed.serverNoContextTakeover = true;
        else parsed.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        const bits = windowBits(value);
        if (bits === null) return `invalid server_max_window_bits ${value === true ? '(no value)' : JSON.stringify(value)}`;
        parsed.serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        if (value === true) {
          parsed.clientMaxWindowBits = true;
          break;
        }
        const bits = windowBits(value);
        if (bits === null) return `invalid client_max_window_bits ${JSON.stringify(value)}`;
        parsed.clientMaxWindowBits = bits;
        break;
      }
      default:
        return `unknown parameter ${name}`;
    }
  }
  return parsed;
}

function headerOf(serverNct: boolean, clientNct: boolean, serverBits: number | undefined, clientBits: number | undefined): string {
  let header = 'permessage-deflate';
  if (serverNct) header += '; server_no_context_takeover';
  if (clientNct) header += '; client_no_context_takeover';
  if (serverBits !== undefined) header += `; server_max_window_bits=${serverBits}`;
  if (clientBits !== undefined) header += `; client_max_window_bits=${clientBits}`;
  return header;
}

/**
 * Server side (RFC 7692 7.1): picks the first `permessage-deflate` offer of the client's list
 * that is valid and that we support, and returns what to answer; null declines them all (the
 * answer then carries no `Sec-WebSocket-Extensions`). Other extensions are ignored.
 */
export function negotiateServer(header: string | undefined, options: ResolvedDeflateOptions): DeflateParams | null {
  if (header === undefined) return null;
  for (const element of parseExtensions(header)) {
    if (element === null || element.name !== 'permessage-deflate') continue;
    const offer = readParams(element.params);
    if (typeof offer === 'string') continue; // RFC 7692 7: "a server MUST decline" an invalid offer
    // Our compressor: the offered limit and ours, whichever is smaller. zlib cannot deflate with
    // a 256-byte window (it silently uses 512), so an offer that needs 8 is one we do not support.
    const serverBits = Math.min(offer.serverMaxWindowBits ?? 15, options.serverMaxWindowBits ?? 15);
    if (serverBits < 9) continue;
    const serverNct = offer.serverNoContextTakeover || options.serverNoContextTakeover;
    // RFC 7692 7.1.1.2: the server may add client_no_context_takeover to any answer.
    const clientNct = offer.clientNoContextTakeover || options.clientNoContextTakeover;
    // RFC 7692 7.1.2.2: client_max_window_bits may be answered only when offered, with a value
    // no greater than the offered one.
    let clientBits: number | undefined;
    if (offer.clientMaxWindowBits !== undefined && options.clientMaxWindowBits !== undefined) {
      const offered = offer.clientMaxWindowBits === true ? 15 : offer.clientMaxWindowBits;
      if (options.clientMaxWindowBits < offered) clientBits = options.clientMaxWindowBits;
    }
    const answerServerBits = offer.serverMaxWindowBits !== undefined || serverBits < 15 ? serverBits : undefined;
    return intern(headerOf(serverNct, clientNct, answerServerBits, clientBits), serverNct, serverBits, clientNct, clientBits ?? 15);
  }
  return null;
}

/** Client side: the offer sent in `Sec-WebSocket-Extensions`. */
export function clientOffer(options: ResolvedDeflateOptions): string {
  let offer = 'permessage-deflate';
  if (options.serverNoContextTakeover) offer += '; server_no_context_takeover';
  if (options.clientNoContextTakeover) offer += '; client_no_context_takeover';
  if (options.serverMaxWindowBits !== undefined) offer += `; server_max_window_bits=${options.serverMaxWindowBits}`;
  offer += '; client_max_window_bits';
  if (options.clientMaxWindowBits !== undefined) offer += `=${options.clientMaxWindowBits}`;
  return offer;
}

/**
 * Client side (RFC 7692 7.1): checks the server's answer to our offer. "A client MUST _Fail the
 * WebSocket Connection_" on an answer with an unknown or repeated parameter, an invalid value,
 * or a configuration it does not support: the reason as a string then.
 */
export function acceptClient(header: string, options: ResolvedDeflateOptions): DeflateParams | string {
  const elements = parseExtensions(header);
  if (elements.length === 0) return 'empty Sec-WebSocket-Extensions';
  if (elements.length > 1) return 'server accepted more than one extension';
  const element = elements[0];
  if (element === null || element === undefined) return `malformed Sec-WebSocket-Extensions ${JSON.stringify(header)}`;
  if (element.name !== 'permessage-deflate') return `server chose extension ${element.name} we did not offer`;
  const answer = readParams(element.params);
  if (typeof answer === 'string') return `permessage-deflate: ${answer}`;
  if (answer.clientMaxWindowBits === true) return 'permessage-deflate: client_max_window_bits needs a value in a response';
  if (options.serverNoContextTakeover && !answer.serverNoContextTakeover) {
    return 'permessage-deflate: server_no_context_takeover was asked for but not granted';
  }
  if (options.serverMaxWindowBits !== undefined) {
    if (answer.serverMaxWindowBits === undefined) return 'permessage-deflate: server_max_window_bits was asked for but not granted';
    if (answer.serverMaxWindowBits > options.serverMaxWindowBits) return 'permessage-deflate: server_max_window_bits above the offered value';
  }
  let ownBits = options.clientMaxWindowBits ?? 15;
  if (answer.clientMaxWindowBits !== undefined) {
    if (answer.clientMaxWindowBits > ownBits) return 'permessage-deflate: client_max_window_bits above the offered value';
    if (answer.clientMaxWindowBits < 9) return 'permessage-deflate: client_max_window_bits=8 is not supported (zlib cannot deflate with a 256-byte window)';
    ownBits = answer.clientMaxWindowBits;
  }
  const peerBits = Math.max(9, answer.serverMaxWindowBits ?? 15);
  return intern(
    headerOf(answer.serverNoContextTakeover, answer.clientNoContextTakeover, answer.serverMaxWindowBits, answer.clientMaxWindowBits as number | undefined),
    answer.clientNoContextTakeover, ownBits, answer.serverNoContextTakeover, peerBits,
  );
}
