import {
  CLIENT_CAPABILITIES_META_KEY,
  INVALID_PARAMS,
  ProtocolError,
  type CallToolResult,
  type Server,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { redisKeys, toolResultValue, type ToolInvokeJob, type ToolResultPayload } from '@toolplane/contracts';
import type { InvocationClient } from '@toolplane/queue';
import { roundInvocationId, settlementOfResult, TaskRecords, type TaskRecord, type TaskStatus } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';
import { z } from 'zod';
import type { EdgeCallContext, TraceFacts } from '../calls/call-context.ts';
import { isProxiedTool, type LoadedCatalog } from '../state/catalogs.ts';
import { callTool } from '../calls/tool-calls.ts';
import { toolCall, type TaskBinding, type ToolCallDeps, type ToolCallMessage } from '../calls/call-types.ts';
import {
  currentView,
  declaresTasks,
  lostTask,
  MISSING_CLIENT_CAPABILITY,
  modernCreated,
  modernDetailed,
  newTaskId,
  TASKS_EXTENSION,
} from './wire.ts';

/** A held call's job is due this long after its request's expiry (`HOLD_SLACK_MS` in calls/tool-calls.ts). */
const HELD_SLACK_MS = 1000;

/** How the edge keeps tasks (edge env `TASK_*`). */
export interface TaskSettings {
  /** How long a task and its result are kept from its creation (`ttl`/`ttlMs`). */
  retentionMs: number;
  /** How long a task's call may run (its job's deadline); below the retention. */
  timeoutMs: number;
  /** The poll interval the edge suggests. */
  pollIntervalMs: number;
  /** 2026-07-28: a call that answers within this long is answered as a plain result, not as a task. */
  immediateMs: number;
}

export interface EdgeTasksOptions {
  redis: RedisClient;
  prefix: string;
  deps: ToolCallDeps;
  settings: TaskSettings;
}

/** What the SDK's path adds to a 2026-07-28 task's call (relayed to an external MCP server as for a plain call). */
export interface ModernTaskExtras {
  multiRound?: ToolInvokeJob['multiRound'];
  trace?: TraceFacts | undefined;
}

/** A task just created: its record, and its call's result when the edge hears it (the worker settles the record). */
export interface StartedTask {
  record: TaskRecord;
  /** Undefined: the call is held for someone else's approval, and its worker settles the task (no answer here). */
  done: Promise<ToolResultPayload | undefined>;
}

const TaskIdParams = z.object({ taskId: z.string() });

/** Whose tasks a request may see and change: its credential (key or OAuth subject), server and acting person. */
export function taskScope(ctx: EdgeCallContext): string {
  const { caller } = ctx;
  return `${caller.clientId}|${caller.loaded.catalog.serverId}|${caller.principal.userId ?? ''}`;
}

/**
 * What the worker checks again of the task's creator when its job starts: the key (by hash), a narrowed token's chain
 * and the token's expiry (an OAuth token's or a narrowed token's).
 */
function credentialOf(ctx: EdgeCallContext): Pick<TaskRecord, 'keyHash' | 'credentialExpiresAt' | 'tokenChain'> {
  const { credential, facts } = ctx.caller;
  const { delegation } = facts;
  if (credential.kind === 'anonymous') return {};
  return {
    ...(credential.kind === 'key' ? { keyHash: credential.keyHash } : {}),
    ...(credential.expiresAt !== undefined ? { credentialExpiresAt: credential.expiresAt } : {}),
    ...(delegation ? { tokenChain: [...delegation.token.chain] } : {}),
  };
}

/** An anonymous caller of a public server: every such caller has the same credential, so none has a task list. */
export function anonymousCaller(ctx: EdgeCallContext): boolean {
  return ctx.caller.credential.kind === 'anonymous';
}

/**
 * The scope a task's record names. A caller with a credential: its scope (its tasks are listed). An anonymous caller:
 * the task's own (its unguessable id is the secret only its creator holds, and it is never listed), so one anonymous
 * caller never reaches another's task.
 */
function recordScope(ctx: EdgeCallContext, taskId: string): string {
  return anonymousCaller(ctx) ? `${taskScope(ctx)}|${taskId}` : taskScope(ctx);
}

/**
 * Durable tasks on the edge (MCP Tasks extension, ADR 0040). A task is a call run as a job whose id is the task's:
 * its record is written in Redis before the job is enqueued, the worker settles it with the job's reply, and any edge
 * answers `tasks/*` from it, scoped to the caller. This edge waits for the reply only to settle a call it answered
 * itself (refused before any job) and, on 2026-07-28, to answer a quick call as a plain result. Plain calls never
 * come here.
 */
export class EdgeTasks {
  readonly settings: TaskSettings;
  readonly records: TaskRecords;
  private readonly redis: RedisClient;
  private readonly cancelChannel: string;
  private readonly deps: ToolCallDeps;
  private readonly listed = new WeakMap<LoadedCatalog['list'], LoadedCatalog['list']>();

  constructor(opts: EdgeTasksOptions) {
    this.settings = opts.settings;
    this.redis = opts.redis;
    this.records = new TaskRecords(opts.redis, opts.prefix);
    this.cancelChannel = redisKeys(opts.prefix).cancel;
    this.deps = opts.deps;
  }

  get log(): ToolCallDeps['log'] {
    return this.deps.log;
  }

  /** A tool whose call may run as a task: a catalog tool (SMART meta tools and tools a person confirms run at once). */
  eligible(loaded: LoadedCatalog, name: string): boolean {
    const tool = loaded.catalog.mode === 'SMART' ? undefined : loaded.tools.get(name);
    return tool !== undefined && tool.rules.confirm !== true;
  }

  /** A tool that runs only as a task (an external tool that says so): a call that cannot make one is refused. */
  requiresTask(loaded: LoadedCatalog, name: string): boolean {
    return loaded.tools.get(name)?.rules.taskOnly === true;
  }

  /** 2025-11-25 `tools/list`: each tool that may run as a task says so (`execution.taskSupport: optional`). */
  toolsList(loaded: LoadedCatalog): LoadedCatalog['list'] {
    let list = this.listed.get(loaded.list);
    if (!list) {
      list = loaded.list.map((t) =>
        this.eligible(loaded, t.name) && !t.execution ? { ...t, execution: { taskSupport: 'optional' } } : t,
      );
      this.listed.set(loaded.list, list);
    }
    return list;
  }

  /** Creates the task (record first), then runs its call: the job's id is the task's. */
  async start(ctx: EdgeCallContext, message: ToolCallMessage, extras: ModernTaskExtras = {}): Promise<StartedTask> {
    const now = Date.now();
    const { loaded } = ctx.caller;
    // A call someone else approves may wait for its approvers (ADR 0049): its task lives and runs that much longer.
    const waitMs = (loaded.tools.get(message.name)?.rules.approval?.expiresInSeconds ?? 0) * 1000;
    const retentionMs = this.settings.retentionMs + waitMs;
    const timeoutMs = this.settings.timeoutMs + (waitMs > 0 ? waitMs + HELD_SLACK_MS : 0);
    const taskId = newTaskId(now, retentionMs, taskScope(ctx));
    const record: TaskRecord = {
      taskId,
      scope: recordScope(ctx, taskId),
      status: 'working',
      createdAt: now,
      lastUpdatedAt: now,
      ttlMs: retentionMs,
      deadlineAt: now + timeoutMs,
      invocationId: taskId,
      tool: message.name,
      ...credentialOf(ctx),
      // Only an external MCP tool may stop for input: its next round sends the arguments again.
      ...(isProxiedTool(loaded, message.name) && message.args ? { arguments: message.args } : {}),
    };
    await this.records.create(record, { listed: !anonymousCaller(ctx) });
    return { record, done: this.run(ctx, message, { ...extras, task: { id: taskId, invocationId: taskId } }) };
  }

  /**
   * Runs one round of a task's call through the ordinary path (validation, policies, sealing, the job). A result the
   * edge made itself (nothing was enqueued) settles the record here; once the job is in the queue only its worker
   * settles it, so an edge that stops or loses Redis meanwhile never writes an outcome it does not know.
   */
  private async run(
    ctx: EdgeCallContext,
    message: ToolCallMessage,
    extras: ModernTaskExtras & { task: TaskBinding },
  ): Promise<ToolResultPayload | undefined> {
    const { id, invocationId } = extras.task;
    let enqueued = false;
    let held: { statusMessage: string; dueAt: number } | undefined;
    const real = this.deps.invocations;
    const invocations = Object.assign(Object.create(real) as InvocationClient, {
      invoke: (...[job, signal, onEnqueued, onEvent]: Parameters<InvocationClient['invoke']>) =>
        real.invoke(job, signal, (err) => ((enqueued ||= err === undefined), onEnqueued?.(err)), onEvent),
    });
    const deps: ToolCallDeps = { ...this.deps, invocations, timeoutMs: this.settings.timeoutMs };
    let result: ToolResultPayload;
    const task = {
      ...extras.task,
      onHeld: (statusMessage: string, dueAt: number) => (held = { statusMessage, dueAt }),
    };
    try {
      result = toolResultValue(await callTool(deps, toolCall(ctx, message, undefined, { ...extras, task })));
    } catch (err) {
      this.deps.log.warn({ err, taskId: id }, 'task call failed on the edge');
      result = { content: [{ type: 'text', text: 'The tool failed because of an internal error.' }], isError: true };
    }
    if (held !== undefined) {
      // Its job waits in the queue; its worker settles the task. Meanwhile the task says who must approve, and lives
      // (and may run) as long as the approvers may take (an access policy's rule is known only now).
      const { statusMessage, dueAt } = held;
      const { timeoutMs, retentionMs } = this.settings;
      await this.records
        .note(id, invocationId, { statusMessage, deadlineAt: dueAt + timeoutMs, keepUntil: dueAt + retentionMs })
        .catch((err: unknown) => this.deps.log.warn({ err, taskId: id }, 'task status not written'));
      return undefined;
    }
    if (!enqueued)
      await this.records
        .settle(id, invocationId, settlementOfResult(result))
        .catch((err: unknown) => this.deps.log.warn({ err, taskId: id }, 'task result not written'));
    return result;
  }

  /**
   * 2026-07-28 `tools/call` of a request that declared the extension: the server decides. A call that answers within
   * `immediateMs` gets its plain result; a longer one a `CreateTaskResult` at that moment.
   */
  async modernCall(ctx: EdgeCallContext, message: ToolCallMessage, extras: ModernTaskExtras): Promise<CallToolResult> {
    const { record, done } = await this.start(ctx, message, extras);
    let timer: NodeJS.Timeout | undefined;
    const window = new Promise<undefined>(
      (resolve) => (timer = setTimeout(() => resolve(undefined), this.settings.immediateMs)),
    );
    const quick = await Promise.race([done, window]);
    clearTimeout(timer);
    if (!quick) return modernCreated(record, this.settings.pollIntervalMs) as unknown as CallToolResult;
    if (quick.protocolError)
      throw new ProtocolError(quick.protocolError.code, quick.protocolError.message, quick.protocolError.data);
    if (quick.resultType === 'input_required') {
      const { inputRequests, requestState } = quick;
      return {
        resultType: 'input_required',
        ...(inputRequests ? { inputRequests } : {}),
        ...(requestState !== undefined ? { requestState } : {}),
      } as unknown as CallToolResult;
    }
    return quick as CallToolResult;
  }

  /** The caller's task as it reads now; a lost one reads as failed; undefined: no such task of this caller. */
  async read(ctx: EdgeCallContext, taskId: string): Promise<TaskRecord | undefined> {
    const task = await this.records.get(taskId, recordScope(ctx, taskId));
    return task ? currentView(task) : lostTask(taskId, taskScope(ctx));
  }

  /**
   * Cancels the caller's task unless it ended, and tells the workers to abort its call (`<prefix>:events:cancel`, the
   * channel a disconnect uses): its upstream request is aborted, or a job still waiting never runs. Returns the status
   * before, undefined when the caller has no such task.
   */
  async cancel(ctx: EdgeCallContext, taskId: string): Promise<TaskStatus | undefined> {
    const scope = recordScope(ctx, taskId);
    const task = await this.records.get(taskId, scope);
    if (!task) return lostTask(taskId, taskScope(ctx))?.status;
    const before = await this.records.cancel(taskId, scope, 'The task was cancelled by its caller.');
    if (before === 'working' || before === 'input_required')
      await this.redis.publish(this.cancelChannel, task.invocationId).catch(() => undefined);
    return before;
  }

  /**
   * 2026-07-28 `tasks/update`: the caller's answers to a task waiting for input. Once every request is answered the
   * call runs again as a new round (a job of its own) with the answers and the tool's state.
   */
  async update(ctx: EdgeCallContext, taskId: string, answers: Record<string, unknown>, extras: ModernTaskExtras) {
    const task = await this.records.get(taskId, recordScope(ctx, taskId));
    if (!task) return lostTask(taskId, taskScope(ctx)) ? 'ignored' : 'unknown';
    const round = Number(/\.r(\d+)$/.exec(task.invocationId)?.[1] ?? 1) + 1;
    const invocationId = roundInvocationId(taskId, round);
    const next = await this.records.update(taskId, recordScope(ctx, taskId), answers, invocationId);
    if (next.kind !== 'resume') return next.kind;
    const multiRound = {
      ...extras.multiRound,
      inputResponses: next.inputResponses,
      ...(next.requestState !== undefined ? { requestState: next.requestState } : {}),
    };
    const message = { id: `${taskId}:${round}`, name: task.tool, args: task.arguments };
    void this.run(ctx, message, { ...extras, multiRound, task: { id: taskId, invocationId } });
    return 'resumed';
  }

  /** 2026-07-28 `tasks/get`, `tasks/cancel`, `tasks/update` on a server (`current`: the request's context). */
  register(server: Server, current: (ctx: ServerContext) => EdgeCallContext): void {
    const poll = this.settings.pollIntervalMs;
    server.setRequestHandler('tasks/get', { params: TaskIdParams }, async ({ taskId }, ctx) => {
      const task = await this.read(negotiated(current, ctx), taskId);
      if (!task) throw unknownTask(taskId);
      return modernDetailed(task, poll);
    });
    server.setRequestHandler('tasks/cancel', { params: TaskIdParams }, async ({ taskId }, ctx) => {
      // Idempotent: a task that already ended gets the same empty acknowledgement.
      if ((await this.cancel(negotiated(current, ctx), taskId)) === undefined) throw unknownTask(taskId);
      return {};
    });
    // The SDK lifts `inputResponses` out of the params into the context, as for a tools/call retry.
    server.setRequestHandler('tasks/update', { params: TaskIdParams }, async ({ taskId }, ctx) => {
      const c = negotiated(current, ctx);
      const inputResponses = (ctx.mcpReq.inputResponses ?? {}) as Record<string, unknown>;
      const declared = (ctx.mcpReq.envelope as Record<string, unknown>)[CLIENT_CAPABILITIES_META_KEY];
      const extras = { multiRound: { clientCapabilities: declared as Record<string, unknown> } };
      if ((await this.update(c, taskId, inputResponses, extras)) === 'unknown') throw unknownTask(taskId);
      return {};
    });
  }
}

/** SEP-2575's answer to a request that needs the extension from a client that did not declare it. */
export function missingTasksExtension(): ProtocolError {
  return new ProtocolError(MISSING_CLIENT_CAPABILITY, `This request needs the ${TASKS_EXTENSION} extension`, {
    requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } },
  });
}

/** The request's context, once it is known to have declared the extension (SEP-2575: else -32021). */
function negotiated(current: (ctx: ServerContext) => EdgeCallContext, ctx: ServerContext): EdgeCallContext {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  if (!envelope || !declaresTasks(envelope[CLIENT_CAPABILITIES_META_KEY])) throw missingTasksExtension();
  return current(ctx);
}

export function unknownTask(taskId: string): ProtocolError {
  return new ProtocolError(INVALID_PARAMS, `Unknown task: ${taskId}`);
}
