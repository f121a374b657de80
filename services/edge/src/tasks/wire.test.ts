import { describe, expect, it } from '@jest/globals';
import type { TaskRecord } from '@toolplane/queue';
import {
  currentView,
  declaresTasks,
  legacyTask,
  lostTask,
  modernCreated,
  modernDetailed,
  newTaskId,
  TASKS_EXTENSION,
} from './wire.ts';

const t0 = Date.UTC(2026, 6, 28, 12, 0, 0);

function task(over: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId: 'tid',
    scope: 's',
    status: 'working',
    createdAt: t0,
    lastUpdatedAt: t0 + 1000,
    ttlMs: 3_600_000,
    deadlineAt: t0 + 900_000,
    invocationId: 'tid',
    tool: 'get_order',
    ...over,
  };
}

describe('task ids', () => {
  it('carry their creation time and retention, 96 random bits and 96 bits binding them to their scope', () => {
    const a = newTaskId(t0, 3_600_000, 'key-a|srv|');
    const b = newTaskId(t0, 3_600_000, 'key-a|srv|');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^t[0-9a-z]+\.[0-9a-z]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{16}$/);
    expect(a.startsWith(`t${t0.toString(36)}.${(3_600_000).toString(36)}.`)).toBe(true);
  });

  it("a well-formed id of the caller's scope whose record is missing within its retention reads failed, state lost", () => {
    const id = newTaskId(t0, 60_000, 'key-a|srv|');
    const lost = lostTask(id, 'key-a|srv|', t0 + 59_999)!;
    expect(lost).toMatchObject({
      taskId: id,
      status: 'failed',
      createdAt: t0,
      ttlMs: 60_000,
      lastUpdatedAt: t0 + 59_999,
    });
    expect(lost.statusMessage).toMatch(/state was lost/);
    expect(lost.error).toMatchObject({ code: -32603, data: { outcome: 'unknown' } });
  });

  it("past its retention, not one of ours, or another scope's (another key, server or person): unknown", () => {
    const id = newTaskId(t0, 60_000, 'key-a|srv|');
    expect(lostTask(id, 'key-a|srv|', t0 + 60_001)).toBeUndefined();
    expect(lostTask(id, 'key-b|srv|', t0)).toBeUndefined();
    expect(lostTask(id, 'key-a|other|', t0)).toBeUndefined();
    expect(lostTask(id, 'key-a|srv|u1', t0)).toBeUndefined();
    // A binding copied onto another stem does not hold either.
    const binding = id.split('.')[3]!;
    const stem = newTaskId(t0, 60_000, 'x').split('.').slice(0, 3).join('.');
    expect(lostTask(`${stem}.${binding}`, 'key-a|srv|', t0)).toBeUndefined();
    expect(lostTask('not-a-task-id', 'key-a|srv|', t0)).toBeUndefined();
    expect(lostTask(`t${t0.toString(36)}.1.short`, 'key-a|srv|', t0)).toBeUndefined();
  });
});

describe('currentView', () => {
  it('a working task well past its deadline reads failed, outcome unknown; before that, as stored', () => {
    const working = task();
    expect(currentView(working, working.deadlineAt + 29_999)).toBe(working);
    const overdue = currentView(working, working.deadlineAt + 30_000);
    expect(overdue.status).toBe('failed');
    expect(overdue.statusMessage).toMatch(/outcome of invocation tid is unknown/);
    expect(overdue.error).toMatchObject({ code: -32603, data: { outcome: 'unknown' } });
  });

  it('an ended task reads as stored, however late', () => {
    const done = task({ status: 'completed', result: { content: [] } });
    expect(currentView(done, t0 + 10 * 3_600_000)).toBe(done);
  });
});

describe('2026-07-28 wire', () => {
  it('CreateTaskResult is flat, with resultType task, ISO times, ttlMs and pollIntervalMs', () => {
    expect(modernCreated(task({ statusMessage: 'running' }), 250)).toEqual({
      resultType: 'task',
      taskId: 'tid',
      status: 'working',
      statusMessage: 'running',
      createdAt: new Date(t0).toISOString(),
      lastUpdatedAt: new Date(t0 + 1000).toISOString(),
      ttlMs: 3_600_000,
      pollIntervalMs: 250,
    });
  });

  it('tasks/get inlines the result, the error or the unanswered input requests by status', () => {
    const working = modernDetailed(task(), 100);
    expect(working).not.toHaveProperty('result');
    expect(working).not.toHaveProperty('resultType');

    const result = { content: [{ type: 'text', text: 'ok' }], structuredContent: { a: 1 } };
    expect(modernDetailed(task({ status: 'completed', result }), 100).result).toEqual({
      resultType: 'complete',
      ...result,
    });
    expect(modernDetailed(task({ status: 'completed' }), 100).result).toEqual({ resultType: 'complete', content: [] });

    const error = { code: -32000, message: 'upstream refused' };
    expect(modernDetailed(task({ status: 'failed', error }), 100).error).toEqual(error);
    expect(modernDetailed(task({ status: 'failed', statusMessage: 'why' }), 100).error).toEqual({
      code: -32603,
      message: 'why',
    });

    const asking = task({
      status: 'input_required',
      inputRequests: { a: { x: 1 }, b: { x: 2 } },
      inputResponses: { a: 'yes' },
    });
    expect(modernDetailed(asking, 100).inputRequests).toEqual({ b: { x: 2 } });
    expect(modernDetailed(task({ status: 'cancelled' }), 100)).toMatchObject({ status: 'cancelled' });
  });

  it('a request declared the extension only under its client capabilities’ extensions', () => {
    expect(declaresTasks({ extensions: { [TASKS_EXTENSION]: {} } })).toBe(true);
    expect(declaresTasks({ extensions: { other: {} } })).toBe(false);
    expect(declaresTasks({ extensions: null })).toBe(false);
    expect(declaresTasks({ tasks: {} })).toBe(false);
    expect(declaresTasks(undefined)).toBe(false);
  });
});

describe('2025-11-25 wire', () => {
  it('Task has ttl and pollInterval, never a result', () => {
    const t = legacyTask(task({ status: 'completed', result: { content: [] } }), 500);
    expect(t).toEqual({
      taskId: 'tid',
      status: 'completed',
      createdAt: new Date(t0).toISOString(),
      lastUpdatedAt: new Date(t0 + 1000).toISOString(),
      ttl: 3_600_000,
      pollInterval: 500,
    });
  });
});
