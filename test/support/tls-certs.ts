/**
 * Certificates for TLS tests, made with the `openssl` command in a temporary directory: a private
 * CA and server certificates it signs, plus the ways a certificate can be wrong. P-256 keys: fast
 * to make. The commands are the ones docs/safety.md gives to operators.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True when an `openssl` command is on PATH. */
export function haveOpenssl(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

/** A certificate and its key (PEM file paths). */
export interface KeyPair {
  cert: string;
  key: string;
}

export interface TestCertificates {
  /** The temporary directory holding every file; `remove()` deletes it. */
  dir: string;
  /** The private CA's certificate: what a node trusts (NODE_EXTRA_CA_CERTS). */
  ca: string;
  /** Signed by the CA, for 127.0.0.1 and localhost. */
  server: KeyPair;
  /** Signed by the CA, but for another name only (redis.invalid): wrong for 127.0.0.1. */
  wrongName: KeyPair;
  /** For 127.0.0.1 and localhost, but signed by another CA (`otherCa`): an impostor. */
  impostor: KeyPair;
  /** The impostor's CA. */
  otherCa: string;
  remove(): void;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  openssl(['req', '-x509', ...ec, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`]);
  return { cert, key };
}

function makeServer(dir: string, name: string, ca: { cert: string; key: string }, altNames: string): KeyPair {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=${altNames}\n`);
  openssl(['req', '-new', ...ec, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { cert, key };
}

/** Makes every certificate in a new temporary directory (throws if openssl fails). */
export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'strangers-tls-'));
  try {
    const ca = makeCa(dir, 'strangers-test-ca');
    const other = makeCa(dir, 'other-ca');
    return {
      dir,
      ca: ca.cert,
      server: makeServer(dir, 'redis', ca, 'IP:127.0.0.1,DNS:localhost'),
      wrongName: makeServer(dir, 'wrong-name', ca, 'DNS:redis.invalid'),
      impostor: makeServer(dir, 'impostor', other, 'IP:127.0.0.1,DNS:localhost'),
      otherCa: other.cert,
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
