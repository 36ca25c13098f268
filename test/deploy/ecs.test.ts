/**
 * deploy/aws-ecs/: the AWS ECS (Fargate) recipe, checked offline as far as that goes: both JSON
 * files type-checked by tsc against the ECS API's own request types from the AWS SDK
 * (RegisterTaskDefinition, CreateService: unknown keys, wrong types and values outside the API's
 * enums are errors), then the documented Fargate limits and our rules (unprivileged read-only
 * container, secrets from Secrets Manager, the Dockerfile's health check, a stop timeout over the
 * drain, rolling deployments that keep full capacity). What only AWS can check (that the ARNs,
 * subnets and roles exist) is left to `aws ecs register-task-definition`.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { serverConfigDefaults } from '../../src/http/server.js';
import { repoFile, typeCheck } from './support.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
const task = JSON.parse(repoFile('deploy/aws-ecs/task-definition.json')) as any;
const service = JSON.parse(repoFile('deploy/aws-ecs/service.json')) as any;
const container = task.containerDefinitions[0];

/** Fargate's task sizes: CPU units → allowed memory in MiB (AWS ECS developer guide, "Task size"). */
function fargateMemory(cpu: number): number[] {
  const range = (from: number, to: number, step: number): number[] => Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);
  switch (cpu) {
    case 256: return [512, 1024, 2048];
    case 512: return range(1024, 4096, 1024);
    case 1024: return range(2048, 8192, 1024);
    case 2048: return range(4096, 16384, 1024);
    case 4096: return range(8192, 30720, 1024);
    default: return [];
  }
}

describe('deploy/aws-ecs', () => {
  it('task definition and service are valid ECS API requests (the AWS SDK\'s types, checked by tsc)', () => {
    const errors = typeCheck([
      { label: 'task-definition.json', module: '@aws-sdk/client-ecs', type: 'RegisterTaskDefinitionCommandInput', value: task },
      { label: 'service.json', module: '@aws-sdk/client-ecs', type: 'CreateServiceCommandInput', value: service },
    ]);
    assert.deepEqual(errors, []);
    // The check has teeth: a key in the wrong case and a value outside an enum.
    const bad = structuredClone(task);
    bad.containerDefinitions[0].readOnlyRootFilesystem = true;
    bad.networkMode = 'vpc';
    const found = typeCheck([{ label: 'bad', module: '@aws-sdk/client-ecs', type: 'RegisterTaskDefinitionCommandInput', value: bad }]);
    assert.equal(found.length, 2, found.join('\n'));
  });

  it('fits Fargate: a valid task size, awsvpc networking, a stop timeout Fargate allows', () => {
    assert.deepEqual(task.requiresCompatibilities, ['FARGATE']);
    assert.equal(task.networkMode, 'awsvpc');
    assert.ok(fargateMemory(Number(task.cpu)).includes(Number(task.memory)), `${task.cpu} CPU units with ${task.memory} MiB`);
    assert.ok(container.stopTimeout <= 120, 'Fargate allows up to 120 s');
    assert.ok(repoFile('docs/deploy.md').includes(`${task.cpu} CPU units and ${task.memory} MiB`), 'docs/deploy.md explains the task size');
  });

  it('runs the image unprivileged and read-only, secrets from Secrets Manager, behind the load balancer', () => {
    assert.match(container.image, /:\d+\.\d+\.\d+$/, 'a pinned tag');
    assert.doesNotMatch(container.user, /^(0|root)(:|$)/);
    assert.equal(container.readonlyRootFilesystem, true);
    assert.equal(container.privileged, false);
    assert.deepEqual(container.linuxParameters.capabilities.drop, ['ALL']);
    assert.deepEqual(container.mountPoints.map((m: any) => m.containerPath), ['/tmp']);
    const env = Object.fromEntries(container.environment.map((e: any) => [e.name, e.value]));
    const secrets = container.secrets.map((s: any) => s.name).sort();
    assert.deepEqual(secrets, ['STRANGERS_REDIS', 'STRANGERS_SECRET'], 'the cluster secret and the Redis URL (with its token) never in plain environment');
    for (const s of secrets) assert.equal(env[s], undefined);
    assert.match(container.secrets[0].valueFrom, /^arn:aws:secretsmanager:/);
    assert.ok(container.command.includes('--trust-proxy'), 'the ALB appends the client address to X-Forwarded-For');
    const ports = Object.fromEntries(container.portMappings.map((p: any) => [p.name, p.containerPort]));
    assert.equal(Number(env.STRANGERS_PORT), ports.http);
    assert.equal(Number(env.STRANGERS_INTERNAL_PORT), ports.internal);
    assert.deepEqual(service.loadBalancers.map((l: any) => [l.containerName, l.containerPort]), [[container.name, ports.http]], 'the load balancer reaches the public port only');
    assert.equal(service.networkConfiguration.awsvpcConfiguration.assignPublicIp, 'DISABLED');
  });

  it('health check as the Dockerfile\'s, a stop timeout over the drain, deployments at full capacity', () => {
    const dockerfile = repoFile('Dockerfile');
    const cmd = JSON.parse(/CMD (\["node", "-e", .*\])/.exec(dockerfile)![1]!) as string[];
    assert.deepEqual(container.healthCheck.command, ['CMD', ...cmd]);
    const drain = Number(/^(\d+)s$/.exec(Object.fromEntries(container.environment.map((e: any) => [e.name, e.value])).STRANGERS_DRAIN_TIMEOUT ?? '')?.[1] ?? serverConfigDefaults.drainTimeoutMs / 1000);
    assert.ok(container.stopTimeout > drain + 5, `stopTimeout ${container.stopTimeout} s > drain ${drain} s`);
    assert.ok(service.desiredCount >= 2);
    assert.equal(service.deploymentConfiguration.minimumHealthyPercent, 100);
    assert.ok(service.deploymentConfiguration.maximumPercent > 100);
    assert.deepEqual(service.deploymentConfiguration.deploymentCircuitBreaker, { enable: true, rollback: true });
    assert.equal(service.taskDefinition, task.family);
  });
});
