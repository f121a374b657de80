import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { redisKeys, type ToolInvokeJob, type ToolInvokeResult } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { TaskRecords, type TaskRecord } from '@toolplane/queue';
import { Redis } from 'ioredis';
import { taskCallerCheck, withTaskResults } from './task-results.ts';

// A task's job checks its creator again when it starts (ADR 0040), on the real Redis of tests/setup/global-setup.js.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: these tests need Redis');
const redis = new Redis(redisUrl);
const prefix = `trs${randomUUID().slice(0, 8)}`;
const keys = redisKeys(prefix);
const records = new TaskRecords(redis, prefix);
const silent = () => undefined;
const log = { debug: silent, info: silent, warn: silent, error: silent } as unknown as Logger;

afterAll(async () => {
  const left = await redis.keys(`${prefix}:*`);
  if (left.length) await redis.del(...left);
  redis.disconnect();
});

/** Runs one task job of a creator described by `over` (and `principal`): whether the call ran, and the task after. */
async function runTask(over: Partial<TaskRecord>, principal: ToolInvokeJob['principal'] = { workspaceId: 'ws' }) {
  const taskId = `task-${randomUUID()}`;
  const now = Date.now();
  await records.create({
    ...{ taskId, scope: 's', status: 'working', createdAt: now, lastUpdatedAt: now, ttlMs: 60_000 },
    ...{ deadlineAt: now + 30_000, invocationId: taskId, tool: 'get_order' },
    ...over,
  });
  let ran = 0;
  const handle = (job: ToolInvokeJob): Promise<ToolInvokeResult> => {
    ran++;
    return Promise.resolve({ v: 1, invocationId: job.invocationId, ok: true, result: { content: [] } });
  };
  const run = withTaskResults(handle, records, log, { caller: taskCallerCheck(redis, prefix) });
  const job = { v: 1, invocationId: taskId, serverId: 'srv', tool: 'get_order', principal, task: { id: taskId } };
  await run(job as unknown as ToolInvokeJob);
  return { ran, task: (await records.get(taskId))! };
}

const keyRecord = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ keyId: 'k1', workspaceId: 'ws', scopes: ['runtime'], revoked: false, ...over });

describe('a task job checks its creator when it starts', () => {
  it('runs while the key is published with runtime and this server, and the person is the same', async () => {
    await redis.hset(keys.apiKeys, 'h-ok', keyRecord({ serverIds: ['srv'] }));
    await redis.hset(keys.users('ws'), 'alice', 'u-alice');
    const { ran, task } = await runTask(
      { keyHash: 'h-ok' },
      { workspaceId: 'ws', username: 'alice', userId: 'u-alice' },
    );
    expect(ran).toBe(1);
    expect(task.status).toBe('completed');
  });

  it.each([
    ['revoked', 'h-revoked', keyRecord({ revoked: true }), 'the API key that created it was revoked'],
    ['gone', 'h-gone', undefined, 'the API key that created it was revoked'],
    ['without runtime', 'h-mgmt', keyRecord({ scopes: ['management'] }), 'has no "runtime" scope'],
    ['limited to other servers', 'h-other', keyRecord({ serverIds: ['x'] }), 'limited to other MCP servers'],
  ])('does not run a key %s: the task fails saying so (-32001)', async (_, hash, value, why) => {
    if (value) await redis.hset(keys.apiKeys, hash, value);
    const { ran, task } = await runTask({ keyHash: hash });
    expect(ran).toBe(0);
    expect(task).toMatchObject({ status: 'failed', error: { code: -32001 } });
    expect(task.statusMessage).toContain(why);
  });

  it("does not run past the creator's token expiry, nor for a person who is gone", async () => {
    const expired = await runTask({ credentialExpiresAt: Date.now() - 1 });
    expect(expired.ran).toBe(0);
    expect(expired.task.statusMessage).toBe("The task's call was not run: the caller's access token expired.");
    const gone = await runTask({}, { workspaceId: 'ws', username: 'bob', userId: 'u-bob' });
    expect(gone.ran).toBe(0);
    expect(gone.task.statusMessage).toBe('The task\'s call was not run: the person "bob" it acts for is gone.');
  });

  it("does not run once a narrowed token of the creator's chain is revoked; the record keeps the chain as made", async () => {
    await redis.hset(keys.apiKeys, 'h-parent', keyRecord());
    const standing = await runTask({ keyHash: 'h-parent', tokenChain: ['t-root', 't-leaf'] });
    expect(standing.ran).toBe(1);
    expect(standing.task.tokenChain).toEqual(['t-root', 't-leaf']);
    await redis.set(`${prefix}:delegation:revoked:t-root`, '1');
    const revoked = await runTask({ keyHash: 'h-parent', tokenChain: ['t-root', 't-leaf'] });
    expect(revoked.ran).toBe(0);
    expect(revoked.task.statusMessage).toBe("The task's call was not run: the narrowed token was revoked.");
  });
});
