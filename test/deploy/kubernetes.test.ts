/**
 * deploy/kubernetes/**: every object validated against the Kubernetes API schema (the OpenAPI
 * schema compiled into `kubernetes-models`' validators: types, required fields, formats such as
 * quantities) and type-checked against the same models' TypeScript types (which, unlike the
 * schema, reject unknown fields at every depth, as `kubectl apply --validate=strict` does); then
 * the production checks: probes, resources, an unprivileged read-only container, a grace period
 * that covers preStop and the drain, PodDisruptionBudget, HorizontalPodAutoscaler, and network
 * policies that let only the proxy reach the nodes and only the nodes reach Redis.
 * No cluster is needed (none runs here): what a live API server would add is admission (quotas,
 * policy engines), not schema.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { serverConfigDefaults } from '../../src/http/server.js';
import { repoFile, repoRoot, typeCheck, type TypedValue } from './support.js';

/** Every kind the manifests may use, at its current (non-deprecated) API version. */
const MODELS: Record<string, { module: string; type: string }> = {
  'apps/v1/Deployment': { module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'v1/Service': { module: 'kubernetes-models/v1/Service', type: 'IService' },
  'v1/Secret': { module: 'kubernetes-models/v1/Secret', type: 'ISecret' },
  'v1/ConfigMap': { module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  'policy/v1/PodDisruptionBudget': { module: 'kubernetes-models/policy/v1/PodDisruptionBudget', type: 'IPodDisruptionBudget' },
  'autoscaling/v2/HorizontalPodAutoscaler': { module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', type: 'IHorizontalPodAutoscaler' },
  'networking.k8s.io/v1/Ingress': { module: 'kubernetes-models/networking.k8s.io/v1/Ingress', type: 'IIngress' },
  'networking.k8s.io/v1/NetworkPolicy': { module: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy', type: 'INetworkPolicy' },
  'cert-manager.io/v1/Issuer': { module: '@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer', type: 'IIssuer' },
  'cert-manager.io/v1/Certificate': { module: '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate', type: 'ICertificate' },
};

// Loosely typed views of the objects, for the production checks (the schema checks come first).
/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec: any };
interface Manifest {
  file: string;
  index: number;
  obj: Obj;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(join(repoRoot, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(repoRoot, path)).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

function load(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of yamlFiles('deploy/kubernetes')) {
    // YAML 1.1, as Kubernetes reads it (sigs.k8s.io/yaml): `no` is false, `0440` is octal.
    parseAllDocuments(repoFile(file), { version: '1.1' }).forEach((doc, index) => {
      assert.deepEqual([...doc.errors, ...doc.warnings].map(String), [], `${file} document ${index}`);
      const obj = doc.toJS() as Obj | null;
      if (obj !== null) out.push({ file, index, obj });
    });
  }
  return out;
}

const manifests = load();
const label = (m: Manifest): string => `${relative('.', m.file)}#${m.index} ${m.obj.kind}/${m.obj.metadata?.name}`;
const find = (kind: string, name: string): Obj => {
  const m = manifests.find((x) => x.obj.kind === kind && x.obj.metadata.name === name);
  assert.ok(m, `${kind}/${name} exists`);
  return m.obj;
};
const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** Seconds of a server duration like `10s`, `500ms`, `2m`. */
function seconds(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  assert.ok(m, `a duration: ${v}`);
  const n = Number(m[1]);
  return { ms: n / 1000, s: n, m: n * 60, h: n * 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

describe('deploy/kubernetes', () => {
  it('holds only known kinds at current API versions, each valid against the Kubernetes API schema', async () => {
    assert.ok(manifests.length >= 10, `${manifests.length} objects`);
    const failures: string[] = [];
    for (const m of manifests) {
      const model = MODELS[`${m.obj.apiVersion}/${m.obj.kind}`];
      if (model === undefined) {
        failures.push(`${label(m)}: ${m.obj.apiVersion} ${m.obj.kind} is not a kind this test knows (a removed or beta API?)`);
        continue;
      }
      const mod = (await import(model.module)) as Record<string, new (data: unknown) => { validate(): void }>;
      const Model = mod[m.obj.kind]!;
      try {
        new Model(m.obj).validate();
      } catch (err) {
        failures.push(`${label(m)}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it('has no unknown or mistyped field anywhere (the models\' TypeScript types, checked by tsc)', () => {
    const values: TypedValue[] = manifests.map((m) => ({ label: label(m), ...MODELS[`${m.obj.apiVersion}/${m.obj.kind}`]!, value: m.obj }));
    assert.deepEqual(typeCheck(values), []);
  });

  it('catches what it claims to: a misspelt field, a bad quantity, a removed API version', async () => {
    const deployment = structuredClone(find('Deployment', 'strangers'));
    const c = deployment.spec.template.spec.containers[0];
    c.readinesProbe = c.readinessProbe; // a typo kubectl --validate=strict refuses
    c.resources.limits.memory = '512 MiB';
    const typeErrors = typeCheck([{ label: 'typo', ...MODELS['apps/v1/Deployment']!, value: deployment }]);
    assert.equal(typeErrors.length, 1, typeErrors.join('\n'));
    assert.match(typeErrors[0]!, /readinesProbe/);
    const { Deployment } = await import('kubernetes-models/apps/v1/Deployment');
    assert.throws(() => new Deployment(deployment as never).validate(), /resources\/limits\/memory/);
    assert.equal(MODELS['policy/v1beta1/PodDisruptionBudget'], undefined);
  });

  it('Deployment: probes on /healthz and /readyz, resources, an unprivileged read-only container, rollouts without downtime', () => {
    const d = find('Deployment', 'strangers');
    const pod = d.spec.template.spec;
    assert.ok(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels));
    assert.ok(d.spec.replicas >= 2);
    assert.deepEqual(d.spec.strategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
    assert.equal(pod.automountServiceAccountToken, false);
    const [c] = pod.containers;
    assert.equal(pod.containers.length, 1);
    assert.doesNotMatch(c.image, /:latest$|^[^:]+$/, 'a pinned tag');
    const port = (name: string): number => c.ports.find((p: any) => p.name === name).containerPort;
    const env = (name: string): string | undefined => c.env.find((e: any) => e.name === name)?.value;
    assert.equal(Number(env('STRANGERS_PORT')), port('http'));
    assert.equal(Number(env('STRANGERS_INTERNAL_PORT')), port('internal'));
    assert.ok(c.args.includes('--trust-proxy'), 'behind the ingress controller');
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http' });
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'http' });
    assert.deepEqual(c.startupProbe.httpGet, { path: '/healthz', port: 'http' });
    for (const k of ['cpu', 'memory']) {
      assert.ok(c.resources.requests[k], `requests.${k}`);
      assert.ok(c.resources.limits[k], `limits.${k}`);
    }
    // The figures docs/deploy.md derives (the arithmetic is there).
    const docs = repoFile('docs/deploy.md');
    for (const q of [c.resources.requests.memory, c.resources.limits.memory, c.resources.requests.cpu]) {
      assert.ok(docs.includes(q), `docs/deploy.md explains ${q}`);
    }
    // Unprivileged, read-only, no capabilities, the runtime's seccomp profile.
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.notEqual(pod.securityContext.runAsUser, 0);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.equal(c.securityContext.capabilities.add, undefined);
    assert.equal(c.securityContext.privileged, undefined);
  });

  it('Deployment: the grace period covers preStop and the whole drain', () => {
    const pod = find('Deployment', 'strangers').spec.template.spec;
    const c = pod.containers[0];
    const cmd: string[] = c.lifecycle.preStop.exec.command;
    assert.equal(cmd[0], 'sleep');
    const preStop = Number(cmd[1]);
    assert.ok(preStop >= 3, 'long enough for the endpoints to drop the pod');
    const drainEnv = c.env.find((e: any) => e.name === 'STRANGERS_DRAIN_TIMEOUT')?.value;
    const drain = drainEnv === undefined ? serverConfigDefaults.drainTimeoutMs / 1000 : seconds(drainEnv);
    assert.ok(pod.terminationGracePeriodSeconds > preStop + drain + 5, `${pod.terminationGracePeriodSeconds} s > ${preStop} s preStop + ${drain} s drain + 5 s`);
  });

  it('PodDisruptionBudget and HorizontalPodAutoscaler cover the Deployment', () => {
    const d = find('Deployment', 'strangers');
    const labels = d.spec.template.metadata.labels;
    const pdb = find('PodDisruptionBudget', 'strangers');
    assert.ok(matches(pdb.spec.selector.matchLabels, labels));
    const hpa = find('HorizontalPodAutoscaler', 'strangers');
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'strangers' });
    assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.minReplicas <= d.spec.replicas);
    assert.ok(pdb.spec.maxUnavailable < hpa.spec.minReplicas, 'a disruption never takes every pod');
    const resources = hpa.spec.metrics.map((m: any) => m.resource.name).sort();
    assert.deepEqual(resources, ['cpu', 'memory'], 'both have requests to be a percentage of');
    assert.ok(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds >= 300, 'scaling down drains users: slowly');
  });

  it('Service and Ingress reach the public port only; the ingress keeps WebSockets open past the heartbeat', () => {
    const d = find('Deployment', 'strangers');
    const svc = find('Service', 'strangers');
    assert.ok(matches(svc.spec.selector, d.spec.template.metadata.labels));
    assert.deepEqual(svc.spec.ports.map((p: any) => p.targetPort), ['http']);
    const ing = manifests.find((m) => m.obj.kind === 'Ingress')!.obj as Obj & { metadata: { annotations: Record<string, string> } };
    const backend = ing.spec.rules[0].http.paths[0].backend.service;
    assert.equal(backend.name, 'strangers');
    assert.ok(svc.spec.ports.some((p: any) => p.name === backend.port.name));
    for (const a of ['proxy-read-timeout', 'proxy-send-timeout']) {
      const v = Number(ing.metadata.annotations[`nginx.ingress.kubernetes.io/${a}`]);
      assert.ok(v > (2 * serverConfigDefaults.heartbeatMs) / 1000, `${a} ${v}`);
    }
  });

  it('NetworkPolicy: only the ingress controller reaches the public port, only the nodes reach Redis', () => {
    const nodes = find('NetworkPolicy', 'strangers');
    const redis = find('NetworkPolicy', 'strangers-redis');
    const nodeLabels = find('Deployment', 'strangers').spec.template.metadata.labels;
    const redisLabels = find('Deployment', 'strangers-redis').spec.template.metadata.labels;
    assert.ok(matches(nodes.spec.podSelector.matchLabels, nodeLabels));
    assert.ok(matches(redis.spec.podSelector.matchLabels, redisLabels));
    for (const p of [nodes, redis]) assert.deepEqual(p.spec.policyTypes, ['Ingress', 'Egress']);
    // Every ingress rule names its sources (an empty `from` admits everyone) and its ports.
    for (const p of [nodes, redis]) {
      for (const rule of p.spec.ingress) {
        assert.ok(rule.from?.length > 0 && rule.ports?.length > 0, `${p.metadata.name}: a rule open to everyone`);
      }
    }
    // Redis: from the nodes' pods, on 6379 only; and it connects nowhere.
    assert.deepEqual(redis.spec.ingress, [{ from: [{ podSelector: { matchLabels: nodeLabels } }], ports: [{ protocol: 'TCP', port: 6379 }] }]);
    assert.deepEqual(redis.spec.egress, []);
    // The nodes: 8080 from the ingress controller's pods only, 9090 from monitoring only.
    const byPort = new Map<number, any[]>();
    for (const rule of nodes.spec.ingress) for (const port of rule.ports) byPort.set(port.port, [...(byPort.get(port.port) ?? []), ...rule.from]);
    assert.deepEqual([...byPort.keys()].sort(), [8080, 9090]);
    for (const peer of byPort.get(8080)!) {
      assert.ok(peer.namespaceSelector && peer.podSelector, 'the ingress controller: its namespace and its pods');
      assert.equal(peer.ipBlock, undefined);
    }
    for (const peer of byPort.get(9090)!) assert.ok(peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'], 'the monitoring namespace');
    // Out of the nodes: Redis and DNS only.
    const egressPorts = nodes.spec.egress.flatMap((r: any) => r.ports.map((p: any) => p.port)).sort();
    assert.deepEqual(egressPorts, [53, 53, 6379]);
  });

  it('Redis: unprivileged, read-only, password and TLS only, bounded memory', () => {
    const d = find('Deployment', 'strangers-redis');
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    const args: string[] = c.args;
    const arg = (flag: string): string => args[args.indexOf(flag) + 1]!;
    assert.equal(arg('--port'), '0', 'no plain port');
    assert.equal(arg('--tls-port'), '6379');
    assert.equal(arg('--requirepass'), '$(REDIS_PASSWORD)');
    assert.equal(arg('--maxmemory-policy'), 'noeviction');
    assert.ok(c.resources.limits.memory, 'a memory limit above --maxmemory');
    const nodes = find('Deployment', 'strangers').spec.template.spec.containers[0];
    assert.match(nodes.env.find((e: any) => e.name === 'STRANGERS_REDIS').value, /^rediss:\/\//);
  });
});
