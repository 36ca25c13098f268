/**
 * Who is who, without keeping addresses: a client address becomes an *address key*, a keyed hash
 * of the address (IPv4) or of its network prefix (IPv6, `/64` by default: one subscriber line
 * gets a whole /64, so counting single IPv6 addresses would give an attacker unlimited
 * identities). Connection caps, report counting and address bans all use the key.
 *
 * The key is an HMAC under a salt derived from the cluster secret, so every node of a cluster
 * computes the same key for the same address, and nobody without the secret can test guesses.
 * Keys are never sent to users and never written to logs (an IPv4 key can be reversed by
 * trying all 2^32 addresses by whoever holds the secret).
 */
import { createHmac } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/** The salt for address keys, derived from the cluster secret (the same on every node). */
export function addressSalt(secret: string): Buffer {
  return createHmac('sha256', secret).update('strangers/address-key/v1').digest();
}

/**
 * The address key of `ip`: 22 base64url characters (128 bits of an HMAC-SHA-256). IPv4-mapped
 * IPv6 addresses (`::ffff:1.2.3.4`) count as the IPv4 address; other IPv6 addresses are cut to
 * their first `ipv6Prefix` bits. Anything that is not an IP address is keyed as it is.
 */
export function addressKey(salt: Buffer, ip: string, ipv6Prefix: number): string {
  const network = addressNetwork(ip, ipv6Prefix);
  // Encoded from the digest directly: a slice of a longer string would keep all of it alive.
  return createHmac('sha256', salt).update(network).digest().toString('base64url', 0, 16);
}

/** What is keyed: `4:a.b.c.d`, or `6/<prefix>:<hex of the masked address>`. */
export function addressNetwork(ip: string, ipv6Prefix: number): string {
  const zone = ip.indexOf('%');
  const bare = zone === -1 ? ip : ip.slice(0, zone);
  if (isIPv4(bare)) return `4:${bare}`;
  if (!isIPv6(bare)) return `?:${ip}`;
  const bytes = parseIPv6(bare);
  // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket.
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `4:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  const bits = Math.max(0, Math.min(128, ipv6Prefix));
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] &= (0xff00 >> keep) & 0xff;
  }
  return `6/${bits}:${bytes.toString('hex')}`;
}

/** The 16 bytes of a valid IPv6 address (checked by `isIPv6` first), `::` and dotted tails included. */
function parseIPv6(ip: string): Buffer {
  const out = Buffer.alloc(16);
  const words = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const [a, b, c, d] = piece.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else {
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const gap = ip.indexOf('::');
  const head = words(gap === -1 ? ip : ip.slice(0, gap));
  const tail = gap === -1 ? [] : words(ip.slice(gap + 2));
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(all[i]!, i * 2);
  return out;
}
