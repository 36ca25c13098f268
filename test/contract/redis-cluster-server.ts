/**
 * A real Redis Cluster for tests, on loopback: N masters (and optionally one replica each), each
 * a `redis-server --cluster-enabled yes` of our own on free ports, joined by
 * `redis-cli --cluster create`, ready once every node reports `cluster_state:ok`. A test may kill
 * a node (SIGKILL) and restart it on the same ports and directory (it keeps its `nodes.conf`, so
 * it rejoins with its role; without persistence, empty).
 *
 * Missing `redis-server` or `redis-cli`: the tests skip with a message, or FAIL when `CI=true`.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, haveRedisServer, killProcess, spawnRedisServer } from './redis-server.js';

/** Why a cluster cannot be started here, or undefined. */
export function clusterUnavailable(): string | undefined {
  if (!haveRedisServer()) return 'redis-server is not installed (Debian: redis-server)';
  if (spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status !== 0) return 'redis-cli is not installed (Debian: redis-tools)';
  return undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One redis-server of the cluster. */
export class ClusterNode {
  #proc: ChildProcess | undefined;
  readonly #args: string[];

  constructor(
    readonly port: number,
    readonly busPort: number,
    readonly dir: string,
    args: readonly string[],
    tls = false,
  ) {
    // With TLS the port is TLS only, and so are the cluster bus and replication.
    const ports = tls ? ['--port', '0', '--tls-port', String(port), '--tls-cluster', 'yes', '--tls-replication', 'yes'] : ['--port', String(port)];
    this.#args = [
      ...ports, '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-port', String(busPort),
      '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000', '--dir', dir, '--save', '', '--appendonly', 'no',
      ...args,
    ];
  }

  get running(): boolean {
    return this.#proc !== undefined;
  }

  /** The process id while running (benchmarks pin it to a core). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  async start(): Promise<void> {
    if (this.#proc !== undefined) throw new Error(`redis-server ${this.port} already running`);
    this.#proc = await spawnRedisServer(this.#args, `redis-server ${this.port}`);
  }

  /** SIGKILL: connections drop at once; nothing but `nodes.conf` survives. */
  async kill(): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined) return;
    this.#proc = undefined;
    await killProcess(proc);
  }
}

export interface RedisClusterOptions {
  /** @default 3 */
  masters?: number;
  /** Replicas per master. @default 0 */
  replicas?: number;
  /** More settings for every node, e.g. `['--requirepass', 'pw', '--masterauth', 'pw']`. */
  args?: readonly string[];
  /** The password to give redis-cli and the admin connections (with `--requirepass`). */
  password?: string;
  /** TLS only, with this certificate (for 127.0.0.1) and CA; clients are not asked for one. */
  tls?: { cert: string; key: string; ca: string };
}

/** A Redis Cluster of our own. */
export class RedisCluster {
  readonly nodes: ClusterNode[];
  readonly #root: string;
  readonly #password: string | undefined;
  readonly #tls: RedisClusterOptions['tls'];

  private constructor(nodes: ClusterNode[], root: string, password: string | undefined, tls: RedisClusterOptions['tls']) {
    this.nodes = nodes;
    this.#root = root;
    this.#password = password;
    this.#tls = tls;
  }

  /** `redis://127.0.0.1:PORT` (`rediss://` with TLS) of every node (any of them is a seed). */
  get seeds(): string[] {
    return this.nodes.map((n) => `${this.#tls ? 'rediss' : 'redis'}://127.0.0.1:${n.port}`);
  }

  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const count = (options.masters ?? 3) * (1 + (options.replicas ?? 0));
    const root = mkdtempSync(join(tmpdir(), 'strangers-cluster-'));
    const nodes: ClusterNode[] = [];
    const used = new Set<number>();
    const port = async (): Promise<number> => {
      for (;;) {
        const p = await freePort();
        if (!used.has(p)) {
          used.add(p);
          return p;
        }
      }
    };
    for (let i = 0; i < count; i++) {
      const tls = options.tls ? ['--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key, '--tls-ca-cert-file', options.tls.ca, '--tls-auth-clients', 'no'] : [];
      nodes.push(new ClusterNode(await port(), await port(), mkdtempSync(join(root, `node${i}-`)), [...tls, ...(options.args ?? [])], options.tls !== undefined));
    }
    const cluster = new RedisCluster(nodes, root, options.password, options.tls);
    try {
      await Promise.all(nodes.map((n) => n.start()));
      const auth = [...(options.password !== undefined ? ['-a', options.password, '--no-auth-warning'] : []), ...(options.tls ? ['--tls', '--cacert', options.tls.ca] : [])];
      const create = spawnSync(
        'redis-cli',
        [...auth, '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(options.replicas ?? 0), '--cluster-yes'],
        { encoding: 'utf8', timeout: 30_000 },
      );
      if (create.status !== 0) throw new Error(`redis-cli --cluster create failed (${create.status}): ${create.stdout}${create.stderr}`);
      await cluster.waitOk();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** A plain connection to one node (for CLUSTER commands and INFO). */
  admin(port: number): Redis {
    const tls = this.#tls ? { tls: { ca: readFileSync(this.#tls.ca) } } : {};
    const r = new Redis({ host: '127.0.0.1', port, password: this.#password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...tls });
    r.on('error', () => {});
    return r;
  }

  async #ask<T>(port: number, f: (r: Redis) => Promise<T>): Promise<T> {
    const r = this.admin(port);
    try {
      await r.connect();
      return await f(r);
    } finally {
      r.disconnect();
    }
  }

  /** Waits until every running node says `cluster_state:ok` and knows every node (bounded). */
  async waitOk(ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    let last = '';
    for (;;) {
      const states = await Promise.all(
        this.nodes.filter((n) => n.running).map((n) =>
          this.#ask(n.port, async (r) => String(await r.call('CLUSTER', 'INFO'))).catch((err: unknown) => `error ${String(err)}`),
        ),
      );
      if (states.every((s) => s.includes('cluster_state:ok') && s.includes(`cluster_known_nodes:${this.nodes.length}`))) return;
      last = states.map((s) => /cluster_state:\w+/.exec(s)?.[0] ?? s).join(' ');
      if (Date.now() > end) throw new Error(`cluster not ok after ${ms} ms: ${last}`);
      await sleep(100);
    }
  }

  /** The node that is master of `key`'s slot now (asked of any running node). */
  async masterOf(key: string): Promise<ClusterNode> {
    const live = this.nodes.find((n) => n.running);
    if (live === undefined) throw new Error('no node running');
    return this.#ask(live.port, async (r) => {
      const slot = Number(await r.call('CLUSTER', 'KEYSLOT', key));
      const ranges = (await r.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
      const range = ranges.find(([lo, hi]) => slot >= lo && slot <= hi);
      if (range === undefined) throw new Error(`slot ${slot} has no master`);
      const node = this.nodes.find((n) => n.port === Number(range[2][1]));
      if (node === undefined) throw new Error(`slot ${slot}: unknown master port ${range[2][1]}`);
      return node;
    });
  }

  /** The replicas of a master (by port), as the running nodes see them. */
  async replicasOf(master: ClusterNode): Promise<ClusterNode[]> {
    const live = this.nodes.find((n) => n.running && n !== master);
    if (live === undefined) return [];
    const text = await this.#ask(live.port, async (r) => String(await r.call('CLUSTER', 'NODES')));
    const lines = text.trim().split('\n').map((l) => l.split(' '));
    const id = lines.find((f) => f[1]!.startsWith(`127.0.0.1:${master.port}@`))?.[0];
    const ports = lines.filter((f) => f[3] === id).map((f) => Number(/:(\d+)@/.exec(f[1]!)?.[1]));
    return this.nodes.filter((n) => ports.includes(n.port));
  }

  /** `INFO <section>` of one node. */
  async info(port: number, section: string): Promise<string> {
    return this.#ask(port, async (r) => String(await r.info(section)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()));
    rmSync(this.#root, { recursive: true, force: true });
  }
}
