import { createHash, randomBytes } from 'node:crypto';
import { TASK_OUTCOME_UNKNOWN, type TaskRecord } from '@toolplane/queue';

/** The Tasks extension's id (2026-07-28: `capabilities.extensions`, and a request's client capabilities). */
export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
/** SEP-2575: a request that needs a client capability it did not declare. */
export const MISSING_CLIENT_CAPABILITY = -32021;
/** 2025-11-25: the `_meta` key that ties a task's result to its task. */
export const RELATED_TASK_META = 'io.modelcontextprotocol/related-task';

/** How long after its deadline a task nobody settled reads as failed (its edge and worker both stopped). */
const OVERDUE_GRACE_MS = 30_000;

/**
 * A new task id: its creation time and retention (base 36), 96 random bits, and 96 bits binding it to its creator's
 * scope (`taskBinding`). A well-formed id of the caller's own scope whose record is gone before its retention ended
 * names a task Redis lost (restarted without its data): it reads as failed, never as unknown. Another caller's id, or
 * one that never existed, reads as unknown, the same for both: ids cannot be probed across callers.
 */
export function newTaskId(createdAt: number, ttlMs: number, scope: string): string {
  const stem = `t${createdAt.toString(36)}.${ttlMs.toString(36)}.${randomBytes(12).toString('base64url')}`;
  return `${stem}.${taskBinding(stem, scope)}`;
}

/** What ties a task id's stem to the scope that created it: SHA-256 of both, 96 bits (no secret: the scope is not one). */
function taskBinding(stem: string, scope: string): string {
  return createHash('sha256').update(`${scope}\n${stem}`).digest().subarray(0, 12).toString('base64url');
}

const taskIdShape = /^(t([0-9a-z]{1,12})\.([0-9a-z]{1,12})\.[A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{16})$/;

/**
 * The failed task a lost record of `scope`'s reads as. Undefined (unknown): not an id of ours, another scope's, or past
 * its retention. Only the id's own binding to the caller's scope says "lost": another caller's task never does.
 */
export function lostTask(taskId: string, scope: string, now = Date.now()): TaskRecord | undefined {
  const m = taskIdShape.exec(taskId);
  if (!m || taskBinding(m[1]!, scope) !== m[4]) return undefined;
  const createdAt = parseInt(m[2]!, 36);
  const ttlMs = parseInt(m[3]!, 36);
  if (now > createdAt + ttlMs) return undefined;
  const message =
    "The task's state was lost (Redis restarted without its data): the outcome of its call is unknown, and it was not " +
    'run again. Check the API before retrying.';
  return {
    taskId,
    scope: '',
    status: 'failed',
    statusMessage: message,
    error: { code: TASK_OUTCOME_UNKNOWN, message, data: { outcome: 'unknown' } },
    createdAt,
    lastUpdatedAt: now,
    ttlMs,
    deadlineAt: createdAt,
    invocationId: taskId,
    tool: '',
  };
}

/** A task as read: one still `working` well past its deadline that nobody settled is failed, outcome unknown. */
export function currentView(task: TaskRecord, now = Date.now()): TaskRecord {
  if (task.status !== 'working' || now < task.deadlineAt + OVERDUE_GRACE_MS) return task;
  const message =
    `No answer by the task's deadline: the outcome of invocation ${task.invocationId} is unknown; its request may ` +
    'have reached the API. Check the API before retrying.';
  return {
    ...task,
    status: 'failed',
    statusMessage: message,
    error: { code: TASK_OUTCOME_UNKNOWN, message, data: { outcome: 'unknown' } },
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** 2026-07-28 `Task` (CreateTaskResult's members and DetailedTask's base). */
function modernBase(task: TaskRecord, pollIntervalMs: number): Record<string, unknown> {
  return {
    taskId: task.taskId,
    status: task.status,
    ...(task.statusMessage !== undefined ? { statusMessage: task.statusMessage } : {}),
    createdAt: iso(task.createdAt),
    lastUpdatedAt: iso(task.lastUpdatedAt),
    ttlMs: task.ttlMs,
    pollIntervalMs,
  };
}

/** 2026-07-28 `CreateTaskResult`: flat, `resultType: "task"`. */
export function modernCreated(task: TaskRecord, pollIntervalMs: number): Record<string, unknown> {
  return { resultType: 'task', ...modernBase(task, pollIntervalMs) };
}

/** 2026-07-28 `tasks/get`: the DetailedTask, its result, error or input requests inlined by status. */
export function modernDetailed(task: TaskRecord, pollIntervalMs: number): Record<string, unknown> {
  const base = modernBase(task, pollIntervalMs);
  switch (task.status) {
    case 'completed':
      return { ...base, result: { resultType: 'complete', ...(task.result ?? { content: [] }) } };
    case 'failed':
      return { ...base, error: task.error ?? { code: TASK_OUTCOME_UNKNOWN, message: task.statusMessage ?? 'failed' } };
    case 'input_required': {
      // Only what is still unanswered (a partial tasks/update answered the rest).
      const given = task.inputResponses ?? {};
      const pending = Object.entries(task.inputRequests ?? {}).filter(([k]) => !(k in given));
      return { ...base, inputRequests: Object.fromEntries(pending) };
    }
    default:
      return base;
  }
}

/** 2025-11-25 `Task` (`ttl`, `pollInterval`). */
export function legacyTask(task: TaskRecord, pollIntervalMs: number): Record<string, unknown> {
  return {
    taskId: task.taskId,
    status: task.status,
    ...(task.statusMessage !== undefined ? { statusMessage: task.statusMessage } : {}),
    createdAt: iso(task.createdAt),
    lastUpdatedAt: iso(task.lastUpdatedAt),
    ttl: task.ttlMs,
    pollInterval: pollIntervalMs,
  };
}

/** Whether a 2026-07-28 request declared the Tasks extension (its envelope's client capabilities). */
export function declaresTasks(clientCapabilities: unknown): boolean {
  const extensions = (clientCapabilities as { extensions?: Record<string, unknown> } | undefined)?.extensions;
  return typeof extensions === 'object' && extensions !== null && TASKS_EXTENSION in extensions;
}

/**
 * What a server with tasks declares: 2025-11-25 `capabilities.tasks` (list, cancel, task-augmented `tools/call`), and
 * 2026-07-28 the extension under `capabilities.extensions`. The SDK sends each era only its own member.
 */
export const TASK_CAPABILITIES = {
  tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
  extensions: { [TASKS_EXTENSION]: {} },
};
