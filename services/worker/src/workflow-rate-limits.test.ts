import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RateLimitPlan, WorkflowPlan } from '@toolplane/contracts';
import { compileWorkflowDocument } from '@toolplane/workflow';
import { Redis } from 'ioredis';
import { configureOutbound, parseOutboundAllow } from './outbound-guard.ts';
import { RateLimitedError, RateLimits } from './rate-limits.ts';
import { SecretResolver } from './secret-resolver.ts';
import { runWorkflowTool, WorkflowStopped } from './workflow-runner.ts';

/**
 * workflow steps calling a connector instance's operations spend the instance's `rate_limits` in Redis,
 * through the same `RateLimits.take` (one key function) as its plain tool calls (processor.ts `runHttpTool`): one
 * budget, and a step past it stops the run before anything is sent (the call is then answered as a plain one).
 */

const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: these tests need Redis');
const redis = new Redis(redisUrl);
const prefix = `tpw${randomUUID().slice(0, 8)}`;
const limits = { timeoutMs: 5_000, maxResponseBytes: 1024 * 1024 };
let upstream: Server;
let base: string;
const received: string[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    received.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"pet"}');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  configureOutbound({ policy: parseOutboundAllow('127.0.0.1'), maxRedirects: 0, connectTimeoutMs: 2_000 });
});

afterAll(async () => {
  await new Promise<void>((r) => upstream.close(() => r()));
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

/** Three steps, each one call of the instance's operation, on an instance whose budget is `instanceId`'s. */
function plan(instanceId: string, rateLimits: RateLimitPlan[]): WorkflowPlan {
  const { ir } = compileWorkflowDocument(
    {
      arazzo: '1.0.1',
      info: { title: 'Three pets', version: '1' },
      sourceDescriptions: [{ name: 'meter', url: 'toolplane:connectors/meter', type: 'openapi' }],
      workflows: [
        {
          workflowId: 'three',
          steps: ['a', 'b', 'c'].map((id) => ({
            stepId: id,
            operationId: 'getPet',
            parameters: [{ name: 'id', in: 'path', value: id }],
          })),
        },
      ],
    },
    {
      references: [
        {
          location: 'toolplane:connectors/meter',
          content: {
            openapi: '3.1.0',
            info: { title: 'Meter', version: '1' },
            servers: [{ url: 'https://meter.example' }],
            paths: {
              '/pets/{id}': {
                get: {
                  operationId: 'getPet',
                  parameters: [{ name: 'id', in: 'path', required: true }],
                  responses: { 200: { description: 'ok' } },
                },
              },
            },
          },
        },
      ],
      connectors: { meter: { baseUrl: `${base}/${instanceId}`, instance: instanceId } },
    },
  );
  return {
    kind: 'workflow',
    deploymentId: 'dep-1',
    workflowId: 'three',
    ir: ir as unknown as Record<string, unknown>,
    secretNames: {},
    connectors: { meter: { instanceId, secrets: {}, rateLimits } },
  };
}

/** As the catalog compiles them (`connectorRateLimits`): the instance's budget, one bucket per `rate_limits` entry. */
const budget = (instanceId: string, limit: number): RateLimitPlan[] => [
  { key: `connector-instance:${instanceId}:per_account:0`, limit, intervalSeconds: 60 },
];

const rateLimits = new RateLimits(redis, prefix);
const run = (p: WorkflowPlan, rateLimitUser?: string) =>
  runWorkflowTool(
    p,
    { arguments: {}, remainingMs: 10_000, ...(rateLimitUser ? { rateLimitUser } : {}) },
    { secrets: new SecretResolver({ get: async () => undefined }, 0), limits, rateLimits },
  );

async function stopped(p: Promise<unknown>): Promise<WorkflowStopped> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof WorkflowStopped)) throw new Error(`the run was not stopped: ${String(err)}`);
  return err;
}

describe('a connector instance’s rate_limits on workflow steps', () => {
  it('stops the run at the (N+1)th call in the window, before sending it, with a plain call’s refusal', async () => {
    received.length = 0;
    const err = await stopped(run(plan('inst-a', budget('inst-a', 2))));
    expect(err.cause).toBeInstanceOf(RateLimitedError);
    expect((err.cause as Error).message).toMatch(
      /^Rate limit reached for this API \(2 calls per 60 s\)\. Retry after \d+ s\.$/,
    );
    expect(received).toEqual(['/inst-a/pets/a', '/inst-a/pets/b']);
    expect(err.steps.map((s) => s.name)).toEqual(['three/a', 'three/b']);
    // The instance's tools take from the same buckets (processor.ts: `take(plan.rateLimits, userId)`): none left.
    expect((await rateLimits.take(budget('inst-a', 2))).ok).toBe(false);
  });

  it('shares one budget with plain calls, per external user as theirs', async () => {
    received.length = 0;
    // A plain call of the instance's tool first: one unit of three.
    expect((await rateLimits.take(budget('inst-b', 3))).ok).toBe(true);
    const err = await stopped(run(plan('inst-b', budget('inst-b', 3))));
    expect(err.cause).toBeInstanceOf(RateLimitedError);
    expect(received).toEqual(['/inst-b/pets/a', '/inst-b/pets/b']);
    // An external user spends their own budget of the instance, steps and plain calls alike.
    received.length = 0;
    expect((await rateLimits.take(budget('inst-b', 3), 'user-1')).ok).toBe(true);
    expect((await stopped(run(plan('inst-b', budget('inst-b', 3)), 'user-1'))).cause).toBeInstanceOf(RateLimitedError);
    expect(received).toEqual(['/inst-b/pets/a', '/inst-b/pets/b']);
    expect((await rateLimits.take(budget('inst-b', 3), 'user-1')).ok).toBe(false);
  });

  it('leaves steps on sources without rate_limits alone', async () => {
    received.length = 0;
    const out = await run(plan('inst-c', []));
    expect(out.ok).toBe(true);
    expect(received).toHaveLength(3);
  });
});
