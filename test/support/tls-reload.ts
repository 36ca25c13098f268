/**
 * Certificate reload tests' helpers: the files a server is configured with, replaced as an
 * operator would; the ways a new pair can be wrong; a spawned `strangers serve` and its logs.
 */
import type { ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { haveOpenssl, makeTestCertificates, type KeyPair, type TestCertificates } from './tls-certs.js';

const isCI = process.env.CI === 'true';

export function fingerprint(certPath: string): string {
  return new X509Certificate(readFileSync(certPath)).fingerprint256;
}

/** The files the server is configured with, which the tests replace as an operator would. */
export class LiveFiles {
  readonly cert: string;
  readonly key: string;
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.cert = join(dir, 'live.pem');
    this.key = join(dir, 'live.key');
  }
  install(pair: KeyPair): void {
    this.reset();
    copyFileSync(pair.cert, this.cert);
    copyFileSync(pair.key, this.key);
  }
  reset(): void {
    rmSync(this.cert, { recursive: true, force: true });
    rmSync(this.key, { recursive: true, force: true });
  }
}

/** The ways a new pair can be wrong (five), each applied on top of a good pair `good`. */
export function badPairs(files: LiveFiles, certs: TestCertificates, good: KeyPair): Array<[string, () => void]> {
  return [
    ['a malformed certificate', () => (files.install(good), writeFileSync(files.cert, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n'))],
    ['a truncated key', () => (files.install(good), writeFileSync(files.key, readFileSync(good.key).subarray(0, 60)))],
    ['a missing certificate file', () => (files.install(good), rmSync(files.cert))],
    ["a key that is another certificate's", () => (files.install(good), copyFileSync(certs.wrongName.key, files.key))],
    ['a directory instead of the key file', () => (files.install(good), rmSync(files.key), mkdirSync(files.key))],
  ];
}

export function certificates(t: { skip(message: string): void }): TestCertificates | undefined {
  if (!haveOpenssl()) {
    if (isCI) throw new Error('openssl is required in CI');
    t.skip('openssl not available');
    return undefined;
  }
  return makeTestCertificates();
}

/** A spawned `strangers serve` and its log lines (JSON: stdout is not a terminal). */
export class Served {
  readonly lines: string[] = [];
  #buf = '';
  #waiters: Array<() => void> = [];
  readonly exited: Promise<number | null>;
  constructor(readonly proc: ChildProcess) {
    proc.stdout!.on('data', (d: Buffer) => this.#take(d));
    proc.stderr!.on('data', (d: Buffer) => this.#take(d));
    this.exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  }
  #take(d: Buffer): void {
    this.#buf += d.toString();
    let i;
    while ((i = this.#buf.indexOf('\n')) >= 0) {
      this.lines.push(this.#buf.slice(0, i));
      this.#buf = this.#buf.slice(i + 1);
    }
    for (const w of this.#waiters.splice(0)) w();
  }
  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }
  /** Waits for `count` log lines (counted from `from`) matching `re`. */
  async waitFor(re: RegExp, from = 0, count = 1, ms = 15_000): Promise<string[]> {
    const end = Date.now() + ms;
    for (;;) {
      const found = this.lines.slice(from).filter((l) => re.test(l));
      if (found.length >= count) return found;
      if (!this.alive) throw new Error(`exited while waiting for ${re}: ${this.lines.join('\n')}`);
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}: ${this.lines.join('\n')}`);
      let t: NodeJS.Timeout | undefined;
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        t = setTimeout(r, 200);
      });
      clearTimeout(t);
    }
  }
}


