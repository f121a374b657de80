import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { redisKeys } from '@toolplane/contracts';
import { Redis } from 'ioredis';
import { executionRecordId, settlementOf, TaskRecords, type TaskRecord } from './task-records.ts';

// Task records' scripts on the real Redis from tests/setup/global-setup.js; this file uses its own prefix.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the queue tests need Redis');

const prefix = `tr${randomUUID().slice(0, 8)}`;
const keys = redisKeys(prefix);
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
const records = new TaskRecords(redis, prefix, { maxResultBytes: 2048 });

afterAll(async () => {
  const left = await redis.keys(`${prefix}:*`);
  if (left.length) await redis.del(...left);
  redis.disconnect();
});

let n = 0;
/** A working task of `scope`, created now (or at `createdAt`), its first round's invocation id = its id. */
async function created(scope = 'key-a|srv|', over: Partial<TaskRecord> = {}): Promise<TaskRecord> {
  const now = over.createdAt ?? Date.now();
  const taskId = `task-${++n}-${randomUUID()}`;
  const record: TaskRecord = {
    taskId,
    scope,
    status: 'working',
    createdAt: now,
    lastUpdatedAt: now,
    ttlMs: 60_000,
    deadlineAt: now + 30_000,
    invocationId: taskId,
    tool: 'get_order',
    ...over,
  };
  await records.create(record);
  return record;
}

const result = { content: [{ type: 'text', text: 'done' }], structuredContent: { ok: true } };

describe('create and get', () => {
  it('stores the record (numbers and JSON members read back as written), expiring at its retention', async () => {
    const task = await created('key-a|srv|', { arguments: { ref: 'x', n: [1, 2] } });
    expect(await records.get(task.taskId)).toEqual(task);
    const pttl = await redis.pttl(keys.task(task.taskId));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(60_000);
    expect(await redis.zscore(keys.tasksOf(task.scope), task.taskId)).toBe(String(task.createdAt));
  });

  it("is the caller's only: another scope reads no such task; the worker (no scope) reads anyone's", async () => {
    const task = await created('key-a|srv|');
    expect(await records.get(task.taskId, 'key-b|srv|')).toBeUndefined();
    expect(await records.get(task.taskId, 'key-a|srv|')).toMatchObject({ taskId: task.taskId });
    expect(await records.get(task.taskId)).toMatchObject({ taskId: task.taskId });
    expect(await records.get('no-such-task')).toBeUndefined();
  });

  it('is gone once its retention ends (the key expires: nothing to settle any more)', async () => {
    const task = await created(`key-${randomUUID()}|srv|`, { ttlMs: 1 });
    // Waits on the expiry itself (each read also lets Redis expire the key lazily).
    while (await records.get(task.taskId)) await new Promise((r) => setImmediate(r));
    expect(await records.settle(task.taskId, task.invocationId, { status: 'completed', result })).toBe(false);
    expect(await redis.exists(keys.task(task.taskId))).toBe(0);
  });
});

describe('note (a call held for an approval)', () => {
  it('says what the task waits for and keeps it (and its deadline) that long; never shortens; only its round', async () => {
    const task = await created();
    const later = task.createdAt + 3_600_000;
    const wait = { statusMessage: 'Waiting for approval request r1', deadlineAt: later, keepUntil: later + 60_000 };
    expect(await records.note(task.taskId, 'another-round', wait)).toBe(false);
    expect(await records.note(task.taskId, task.invocationId, wait)).toBe(true);
    expect(await records.get(task.taskId)).toMatchObject({
      status: 'working',
      statusMessage: wait.statusMessage,
      deadlineAt: later,
      ttlMs: 3_660_000,
    });
    expect(await redis.pttl(keys.task(task.taskId))).toBeGreaterThan(3_600_000);
    const sooner = { statusMessage: 'again', deadlineAt: task.createdAt, keepUntil: task.createdAt };
    expect(await records.note(task.taskId, task.invocationId, sooner)).toBe(true);
    expect(await records.get(task.taskId)).toMatchObject({ deadlineAt: later, ttlMs: 3_660_000 });
    await records.settle(task.taskId, task.invocationId, { status: 'completed', result });
    expect(await records.note(task.taskId, task.invocationId, wait)).toBe(false);
  });
});

describe('settle', () => {
  it('writes the end only while the task is working on that invocation; the first end wins', async () => {
    const task = await created();
    expect(await records.settle(task.taskId, 'another-round', { status: 'completed', result }, 5)).toBe(false);
    expect((await records.get(task.taskId))!.status).toBe('working');
    expect(await records.settle(task.taskId, task.invocationId, { status: 'completed', result }, 7)).toBe('settled');
    const late = { status: 'failed' as const, error: { code: -32603, message: 'late' } };
    expect(await records.settle(task.taskId, task.invocationId, late)).toBe(false);
    expect(await records.get(task.taskId)).toMatchObject({ status: 'completed', result, lastUpdatedAt: 7 });
    expect((await records.get(task.taskId))!.error).toBeUndefined();
  });

  it('does not write over a cancelled task (a worker finishing a cancelled call)', async () => {
    const task = await created();
    expect(await records.cancel(task.taskId, task.scope, 'cancelled by its caller')).toBe('working');
    expect(await records.settle(task.taskId, task.invocationId, { status: 'completed', result })).toBe(false);
    expect(await records.get(task.taskId)).toMatchObject({
      status: 'cancelled',
      statusMessage: 'cancelled by its caller',
    });
  });

  it('does not recreate a record that is gone (Redis lost it)', async () => {
    expect(await records.settle('lost-task', 'lost-task', { status: 'completed', result })).toBe(false);
    expect(await redis.exists(keys.task('lost-task'))).toBe(0);
  });

  it('keeps a result up to the bound; a larger one fails the task saying so, none of it stored', async () => {
    const fits = await created();
    const small = { content: [{ type: 'text', text: 'x'.repeat(1500) }] };
    expect(await records.settle(fits.taskId, fits.invocationId, { status: 'completed', result: small })).toBe(
      'settled',
    );
    expect((await records.get(fits.taskId))!.result).toEqual(small);

    const big = await created();
    const large = { content: [{ type: 'text', text: 'y'.repeat(4000) }] };
    expect(await records.settle(big.taskId, big.invocationId, { status: 'completed', result: large })).toBe(
      'too_large',
    );
    const stored = (await records.get(big.taskId))!;
    expect(stored.status).toBe('failed');
    expect(stored.statusMessage).toMatch(/result \(\d+ bytes\) was too large to keep: tasks keep at most 2048 bytes/);
    expect(stored.statusMessage).toContain('TASK_MAX_RESULT_BYTES');
    expect(stored.error).toMatchObject({ code: -32603, data: { maxBytes: 2048 } });
    expect(await redis.hexists(keys.task(big.taskId), 'result')).toBe(0);
    expect(JSON.stringify(await redis.hgetall(keys.task(big.taskId)))).not.toContain('yyyy');
  });

  it("maps a worker's replies: a tool error completes, outcome unknown fails, input_required waits", async () => {
    const base = { v: 1 as const, invocationId: 'i' };
    const failed = settlementOf({
      ...base,
      ok: false,
      error: { kind: 'user', code: 'upstream.http_error', message: 'HTTP 500' },
    });
    expect(failed).toEqual({
      status: 'completed',
      result: { content: [{ type: 'text', text: 'HTTP 500' }], isError: true },
    });
    const unknown = settlementOf({
      ...base,
      ok: false,
      error: { kind: 'transient', code: 'tool.outcome_unknown', message: '?' },
    });
    expect(unknown).toMatchObject({ status: 'failed', error: { code: -32603, data: { outcome: 'unknown' } } });
    const asks = settlementOf({
      ...base,
      ok: true,
      result: { content: [], resultType: 'input_required', inputRequests: { a: {} }, requestState: 's1' },
    });
    expect(asks).toEqual({ status: 'input_required', inputRequests: { a: {} }, requestState: 's1' });
  });
});

describe('cancel', () => {
  it("cancels the caller's unfinished task once; an ended task keeps its end; another's or none: undefined", async () => {
    const task = await created();
    expect(await records.cancel(task.taskId, 'key-b|srv|', 'no')).toBeUndefined();
    expect((await records.get(task.taskId))!.status).toBe('working');
    expect(await records.cancel(task.taskId, task.scope, 'stop', 9)).toBe('working');
    expect(await records.cancel(task.taskId, task.scope, 'stop again', 10)).toBe('cancelled');
    expect(await records.get(task.taskId)).toMatchObject({
      status: 'cancelled',
      statusMessage: 'stop',
      lastUpdatedAt: 9,
    });

    const done = await created();
    await records.settle(done.taskId, done.invocationId, { status: 'completed', result });
    expect(await records.cancel(done.taskId, done.scope, 'too late')).toBe('completed');
    expect((await records.get(done.taskId))!.status).toBe('completed');
    expect(await records.cancel('no-such-task', task.scope, 'x')).toBeUndefined();
  });
});

describe('input rounds', () => {
  it('gathers answers; once all are given the next round works on its own invocation', async () => {
    const task = await created();
    const asks = { status: 'input_required' as const, inputRequests: { a: { q: 1 }, b: { q: 2 } }, requestState: 'st' };
    expect(await records.settle(task.taskId, task.invocationId, asks)).toBe('settled');
    expect(await records.update(task.taskId, 'key-b|srv|', { a: 1 }, `${task.taskId}.r2`)).toEqual({ kind: 'unknown' });
    expect(await records.update(task.taskId, task.scope, { a: 1, zz: 3 }, `${task.taskId}.r2`)).toEqual({
      kind: 'pending',
    });
    expect((await records.get(task.taskId))!.inputResponses).toEqual({ a: 1 });
    const resumed = await records.update(task.taskId, task.scope, { b: 2 }, `${task.taskId}.r2`);
    expect(resumed).toEqual({ kind: 'resume', inputResponses: { a: 1, b: 2 }, requestState: 'st' });
    const now = (await records.get(task.taskId))!;
    expect(now).toMatchObject({ status: 'working', invocationId: `${task.taskId}.r2` });
    expect(now.inputRequests).toBeUndefined();
    // The first round's late reply settles nothing; the new round's does.
    expect(await records.settle(task.taskId, task.invocationId, { status: 'completed', result })).toBe(false);
    expect(await records.settle(task.taskId, `${task.taskId}.r2`, { status: 'completed', result })).toBe('settled');
    expect(await records.update(task.taskId, task.scope, { a: 1 }, `${task.taskId}.r3`)).toEqual({ kind: 'ignored' });
  });
});

describe('list', () => {
  it("lists one caller's tasks newest first, in pages, without another caller's or expired ones", async () => {
    const scope = `key-${randomUUID()}|srv|`;
    const t0 = Date.now() - 10_000;
    const mine = [];
    for (let i = 0; i < 5; i++) mine.push(await created(scope, { createdAt: t0 + i }));
    await created(`other-${scope}`, { createdAt: t0 + 10 });
    // A record that expired while its id is still listed (ids leave the list only as newer tasks are created).
    const gone = await created(scope, { createdAt: t0 + 3.5 });
    await redis.del(keys.task(gone.taskId));

    const first = await records.list(scope, 0, 3);
    // Left out: the page is shorter for it.
    expect(first.tasks.map((t) => t.taskId)).toEqual([mine[4]!.taskId, mine[3]!.taskId]);
    expect(first.more).toBe(true);
    const second = await records.list(scope, 3, 3);
    expect(second.tasks.map((t) => t.taskId)).toEqual([mine[2]!.taskId, mine[1]!.taskId, mine[0]!.taskId]);
    expect(second.more).toBe(false);
    expect((await records.list(`nobody-${scope}`, 0, 10)).tasks).toEqual([]);
  });

  it("an unlisted task (an anonymous caller's) is stored and read by its id, with no list entry", async () => {
    const scope = `anonymous|srv||${randomUUID()}`;
    const now = Date.now();
    const task: TaskRecord = {
      taskId: `task-unlisted-${randomUUID()}`,
      scope,
      status: 'working',
      createdAt: now,
      lastUpdatedAt: now,
      ttlMs: 60_000,
      deadlineAt: now + 30_000,
      invocationId: 'x',
      tool: 'get_order',
      keyHash: 'ab'.repeat(32),
      credentialExpiresAt: now + 5_000,
    };
    await records.create(task, { listed: false });
    expect(await records.get(task.taskId, scope)).toEqual(task);
    expect(await redis.exists(keys.tasksOf(scope))).toBe(0);
    expect((await records.list(scope, 0, 10)).tasks).toEqual([]);
  });

  it('drops ids older than the retention from the list when a task is created', async () => {
    const scope = `key-${randomUUID()}|srv|`;
    const old = await created(scope, { createdAt: Date.now() - 120_000 });
    const fresh = await created(scope);
    expect(await redis.zscore(keys.tasksOf(scope), old.taskId)).toBeNull();
    expect((await records.list(scope, 0, 10)).tasks.map((t) => t.taskId)).toEqual([fresh.taskId]);
  });
});

describe('executionRecordId', () => {
  it("keeps a plain call's UUID; maps a task's id (and a round's) to a stable UUID of its own", () => {
    const plain = randomUUID();
    expect(executionRecordId(plain)).toBe(plain);
    const task = 'tmwxm1ky9.255s0.316t0LtfQ0niHNqH';
    const id = executionRecordId(task);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(executionRecordId(task)).toBe(id);
    expect(executionRecordId(`${task}.r2`)).not.toBe(id);
  });
});
