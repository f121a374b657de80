import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { ExecutionRecordV1, ToolInvokeJob, ToolInvokeJobV2 } from '@toolplane/contracts';
import { Queue } from 'bullmq';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { exactCheck } from './exact-check.ts';
import { ReplyingConsumer } from './reply-consumer.ts';

// The compiled checks of jobs and records (cost cut 5) against the zod schemas they stand in front of.
const job = {
  v: 2,
  invocationId: 'inv-1',
  serverId: 'srv',
  catalogVersion: 3,
  tool: 'get_ticket',
  arguments: { id: 7, nested: { deep: [1, 'x', null] } },
  principal: { workspaceId: 'ws', keyId: 'k1' },
  deadlineAt: 1_764_300_000_000,
  replyTo: 'edge-1',
  serializedResult: true,
  rules: {
    quota: { keys: ['q1'], amounts: [1], inFlight: ['f1'] },
    cost: 2.5,
    guardrails: { arguments: [{ guardrail: 'g', detector: 'pii:card', path: '$.x', action: 'flag', on: 'arguments' }] },
    cache: { key: 'c', ttlMs: 0, epoch: 'e', scope: 'principal' },
  },
} as const;
const step = {
  kind: 'http',
  name: 'get',
  method: 'GET',
  urlTemplate: '/t/{id}',
  url: '/t/7',
  status: 200,
  outcome: 'response',
  durationMs: 1.5,
  attempt: 1,
};
const record = {
  v: 1,
  invocationId: 'inv-1',
  workspaceId: 'ws',
  serverId: 'srv',
  catalogVersion: 3,
  tool: 'get_ticket',
  caller: { keyId: 'k1' },
  startedAt: '2026-11-28T00:00:00.000Z',
  durationMs: 3,
  outcome: 'success',
  steps: [step],
  tree: [{ kind: 'flow.run', workflowId: 'w', startedAt: 'x', durationMs: 1, status: 'ok', children: [] }],
  costUnits: 1,
};

const checkJob = exactCheck(ToolInvokeJobV2)!;
const checkRecord = exactCheck(ExecutionRecordV1)!;

/** What the compiled check promises: whatever it takes, zod takes too and parses to an equal value. */
function agrees(check: (d: unknown) => boolean, schema: z.ZodType, value: unknown): void {
  // Jobs and records reach the checks as JSON (BullMQ's job data, the record stream's entries).
  const data: unknown = JSON.parse(JSON.stringify(value));
  if (!check(data)) return;
  const parsed = schema.safeParse(data);
  expect(parsed.success).toBe(true);
  expect(parsed.data).toStrictEqual(data);
}

/** `data` with the value at one path replaced (`undefined`: the key removed), or an unknown key added there. */
function mutate(data: unknown, path: (string | number)[], value: unknown, addKey?: string): unknown {
  const copy = structuredClone(data) as Record<string | number, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const p of path.slice(0, -1)) {
    const next = at[p];
    if (typeof next !== 'object' || next === null) return copy;
    at = next as Record<string | number, unknown>;
  }
  const last = path.at(-1)!;
  if (addKey !== undefined && typeof at[last] === 'object' && at[last] !== null)
    (at[last] as Record<string, unknown>)[addKey] = value;
  else if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

/** Every path of a JSON value's object members and array items. */
function paths(data: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof data !== 'object' || data === null) return [];
  const entries = Array.isArray(data) ? data.map((v, i) => [i, v] as const) : Object.entries(data);
  return entries.flatMap(([k, v]) => [[...prefix, k], ...paths(v, [...prefix, k])]);
}

describe('exactCheck', () => {
  it("takes the edge's jobs and the worker's records as they are", () => {
    expect(checkJob(job)).toBe(true);
    const { rules: _r, ...plain } = job;
    expect(checkJob(plain)).toBe(true);
    expect(checkRecord(record)).toBe(true);
    agrees(checkJob, ToolInvokeJob, job);
    agrees(checkRecord, ExecutionRecordV1, record);
  });

  it.each([
    ['an unknown member (zod strips it)', mutate(job, ['principal'], 'x', 'extra')],
    ['a member missing', mutate(job, ['replyTo'], undefined)],
    ['a version 1 job (zod upgrades it)', { ...job, v: 1 }],
    ['a version 3 job', { ...job, v: 3 }],
    ['an empty invocation id', { ...job, invocationId: '' }],
    ['a fractional deadline', { ...job, deadlineAt: 1.5 }],
    ['an unsafe integer', { ...job, catalogVersion: 2 ** 60 }],
    ['a catalog version 0', { ...job, catalogVersion: 0 }],
    ['an unknown log level', { ...job, logLevel: 'loud' }],
    ['serializedResult false', { ...job, serializedResult: false }],
    ['arguments as an array', { ...job, arguments: [1] }],
    ['a string where a number goes', mutate(job, ['rules', 'quota', 'amounts', 0], '1')],
    ['a negative cost', mutate(job, ['rules', 'cost'], -1)],
  ])('leaves to zod a job with %s', (_, data) => {
    expect(checkJob(data)).toBe(false);
  });

  it('leaves to zod a record whose step lacks its defaulted attempt (zod adds it)', () => {
    const { attempt: _a, ...bare } = step;
    const data = { ...record, steps: [bare] };
    expect(checkRecord(data)).toBe(false);
    expect(ExecutionRecordV1.parse(data).steps[0]!.attempt).toBe(1);
  });

  it('never takes what zod refuses or would change (random edits of a job and a record)', () => {
    for (const [check, schema, base] of [
      [checkJob, ToolInvokeJob, job],
      [checkRecord, ExecutionRecordV1, record],
    ] as const) {
      const where = paths(base);
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.constantFrom(...where), fc.option(fc.jsonValue(), { nil: undefined }), fc.boolean()), {
            minLength: 1,
            maxLength: 3,
          }),
          (edits) => {
            let data: unknown = base;
            for (const [path, value, add] of edits) data = mutate(data, path, value, add ? 'extra' : undefined);
            agrees(check, schema, data);
          },
        ),
        { numRuns: 2000 },
      );
    }
  });

  it('gives no check for a schema JSON Schema cannot carry whole', () => {
    expect(exactCheck(z.object({ a: z.string().refine((s) => s !== 'x') }))).toBeUndefined();
    expect(exactCheck(z.object({ a: z.string().regex(/^a/) }))).toBeUndefined();
    expect(exactCheck(z.object({ a: z.email() }))).toBeUndefined();
    expect(exactCheck(z.object({ a: z.string().max(2) }))).toBeUndefined(); // '😀' is 1 code point, 2 UTF-16 units
    expect(exactCheck(z.string().transform((s) => s.length))).toBeUndefined();
    expect(exactCheck(z.object({ a: z.string() }))).toBeDefined();
  });
});

const redisUrl = process.env.TEST_REDIS_URL;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('a consumer with the compiled check', () => {
  it('still refuses a malformed job (the queue stays a trust boundary) and runs a good one', async () => {
    if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the queue tests need Redis');
    const prefix = `tx${randomUUID().slice(0, 8)}`;
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue('q', { connection: redis, prefix });
    const handled: unknown[] = [];
    const invalid: (string | undefined)[] = [];
    const consumer = new ReplyingConsumer({
      redis,
      prefix,
      queueName: 'q',
      concurrency: 2,
      job: ToolInvokeJob,
      exact: checkJob,
      handle: async (j) => {
        handled.push(j);
        return {};
      },
      onInvalidJob: (id) => invalid.push(id),
    });
    consumer.start();
    cleanups.push(async () => {
      await consumer.close();
      await queue.close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    });
    await queue.add('t', { ...job, deadlineAt: 'soon' }, { jobId: 'bad' });
    await queue.add('t', { ...job, principal: { keyId: 'k1' } }, { jobId: 'no-workspace' });
    await queue.add('t', { ...job, v: 1, rules: undefined, cost: 2 }, { jobId: 'v1' });
    await queue.add('t', job, { jobId: 'good' });
    const deadline = Date.now() + 20_000;
    while (handled.length + invalid.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(invalid.sort()).toEqual(['bad', 'no-workspace']);
    expect(handled).toContainEqual(job);
    // The version 1 job went through zod, upgraded: its cost under `rules`.
    expect(handled).toContainEqual({ ...job, rules: { cost: 2 } });
  });
});
