import { INVALID_PARAMS, METHOD_NOT_FOUND, ProtocolError } from '@modelcontextprotocol/server';
import { terminalStatuses, type TaskRecord } from '@toolplane/queue';
import type { Response } from 'express';
import type { EdgeCallContext } from '../calls/call-context.ts';
import { anonymousCaller, taskScope, unknownTask, type EdgeTasks } from './edge-tasks.ts';
import { legacyTask, RELATED_TASK_META } from './wire.ts';

/** A 2025-era JSON-RPC request, as the edge reads it before any MCP handling. */
export interface LegacyTaskMessage {
  id?: unknown;
  method?: unknown;
  params?: { name?: unknown; arguments?: unknown; task?: unknown; taskId?: unknown; cursor?: unknown };
}

const PAGE = 50;

/**
 * Whether a 2025-era request is one of the Tasks methods, or a `tools/call` asking for a task (`params.task`): one
 * property test, no Redis command, so a plain call pays nothing for tasks.
 */
export function isLegacyTaskRequest(message: LegacyTaskMessage | undefined): boolean {
  const method = message?.method;
  if (typeof method !== 'string') return false;
  if (method === 'tools/call') return message?.params?.task !== undefined;
  return method === 'tasks/get' || method === 'tasks/result' || method === 'tasks/list' || method === 'tasks/cancel';
}

/**
 * 2025-11-25 Tasks, answered as JSON by the edge itself (the SDK's 2025 `tools/call` cannot answer a
 * `CreateTaskResult`): a task-augmented `tools/call`, `tasks/get`, `tasks/result` (waits for the task to end, polling
 * its record), `tasks/list` (the caller's tasks, newest first) and `tasks/cancel`. Status notifications
 * (`notifications/tasks/status`) are sent on the stream of a `tasks/result` that waits: 2025-era serving is stateless
 * and keeps no other stream open to carry them (clients that do not wait poll).
 */
export async function serveLegacyTask(
  tasks: EdgeTasks,
  res: Response,
  ctx: EdgeCallContext,
  message: LegacyTaskMessage,
): Promise<void> {
  const id = typeof message.id === 'string' || typeof message.id === 'number' ? message.id : null;
  try {
    const result = await legacyAnswer(tasks, res, ctx, message);
    answer(res, { jsonrpc: '2.0', id, result });
  } catch (err) {
    const e =
      err instanceof ProtocolError
        ? err
        : new ProtocolError(-32603, 'The task could not be served: Redis unavailable.');
    if (!(err instanceof ProtocolError)) tasks.log.warn({ err }, 'task request failed');
    const error = { code: e.code, message: e.message, ...(e.data !== undefined ? { data: e.data } : {}) };
    answer(res, { jsonrpc: '2.0', id, error });
  }
}

/** The JSON-RPC answer: JSON, or the last event of the stream `tasks/result` opened for status notifications. */
function answer(res: Response, message: unknown): void {
  if (res.writableEnded) return;
  if (res.headersSent) res.end(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  else res.status(200).json(message);
}

async function legacyAnswer(
  tasks: EdgeTasks,
  res: Response,
  ctx: EdgeCallContext,
  message: LegacyTaskMessage,
): Promise<unknown> {
  const poll = tasks.settings.pollIntervalMs;
  const params = message.params ?? {};
  const taskId = typeof params.taskId === 'string' ? params.taskId : undefined;
  switch (message.method) {
    case 'tools/call': {
      const name = params.name;
      if (typeof name !== 'string') throw new ProtocolError(INVALID_PARAMS, 'tools/call needs a tool name');
      if (!tasks.eligible(ctx.caller.loaded, name))
        throw new ProtocolError(
          METHOD_NOT_FOUND,
          `The tool "${name}" does not run as a task (no such tool, or it does not support tasks)`,
        );
      const args = params.arguments as Record<string, unknown> | undefined;
      const { record } = await tasks.start(ctx, { id: String(message.id), name, args });
      return { task: legacyTask(record, poll) };
    }
    case 'tasks/list':
      return listTasks(tasks, ctx, params.cursor);
    case 'tasks/get':
      return legacyTask(await known(tasks, ctx, taskId), poll);
    case 'tasks/result':
      return taskResult(tasks, res, ctx, await known(tasks, ctx, taskId));
    case 'tasks/cancel': {
      const before = await tasks.cancel(ctx, taskId ?? '');
      if (before === undefined) throw unknownTask(taskId ?? '');
      if (terminalStatuses.has(before))
        throw new ProtocolError(INVALID_PARAMS, `The task ${taskId} already ended (${before}): it cannot be cancelled`);
      return legacyTask(await known(tasks, ctx, taskId), poll);
    }
    default:
      throw new ProtocolError(METHOD_NOT_FOUND, 'Method not found');
  }
}

async function known(tasks: EdgeTasks, ctx: EdgeCallContext, taskId: string | undefined): Promise<TaskRecord> {
  const task = taskId === undefined ? undefined : await tasks.read(ctx, taskId);
  if (!task) throw unknownTask(taskId ?? '');
  return task;
}

async function listTasks(tasks: EdgeTasks, ctx: EdgeCallContext, cursor: unknown): Promise<unknown> {
  // Anonymous callers share one credential: their tasks are reachable only by id (held by its creator), never listed.
  if (anonymousCaller(ctx)) return { tasks: [] };
  const offset = typeof cursor === 'string' && /^\d{1,6}$/.test(cursor) ? Number(cursor) : 0;
  const page = await tasks.records.list(taskScope(ctx), offset, PAGE);
  return {
    tasks: page.tasks.map((t) => legacyTask(t, tasks.settings.pollIntervalMs)),
    ...(page.more ? { nextCursor: String(offset + PAGE) } : {}),
  };
}

/**
 * `tasks/result`: the result the call would have answered, once the task ends (its record is read again every poll
 * interval while the client waits); a failed task answers its error, a cancelled one an error saying so. A client
 * that accepts an event stream, waiting for a task not yet ended, gets it as one: each status change it sees is sent
 * as `notifications/tasks/status` (2025-11-25: the Task as `tasks/get` answers it), then the answer.
 */
async function taskResult(tasks: EdgeTasks, res: Response, ctx: EdgeCallContext, first: TaskRecord): Promise<unknown> {
  let task = first;
  const stream = !terminalStatuses.has(task.status) && /text\/event-stream/.test(ctx.source.header('accept') ?? '');
  if (stream) res.status(200).set({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }).flushHeaders();
  while (!terminalStatuses.has(task.status)) {
    if (res.destroyed) return undefined;
    await new Promise((resolve) => setTimeout(resolve, tasks.settings.pollIntervalMs));
    const before = task;
    task = await known(tasks, ctx, task.taskId);
    if (stream && (task.status !== before.status || task.statusMessage !== before.statusMessage))
      res.write(statusNotification(task, tasks.settings.pollIntervalMs));
  }
  if (task.status === 'cancelled') throw new ProtocolError(-32603, `The task ${task.taskId} was cancelled`);
  if (task.status === 'failed') {
    const error = task.error ?? { code: -32603, message: task.statusMessage ?? 'The task failed' };
    throw new ProtocolError(error.code, error.message, error.data);
  }
  return { ...task.result, _meta: { [RELATED_TASK_META]: { taskId: task.taskId } } };
}

/** 2025-11-25 `notifications/tasks/status` as an SSE event: its params are the task as `tasks/get` answers it. */
function statusNotification(task: TaskRecord, pollIntervalMs: number): string {
  const notification = {
    jsonrpc: '2.0',
    method: 'notifications/tasks/status',
    params: legacyTask(task, pollIntervalMs),
  };
  return `event: message\ndata: ${JSON.stringify(notification)}\n\n`;
}
