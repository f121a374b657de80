import { createHash } from 'node:crypto';
import { redisKeys, type RedisKeys, type ToolInvokeResult, type ToolResultPayload } from '@toolplane/contracts';
import type { Cluster, Redis } from 'ioredis';

/** The statuses of a durable task (MCP Tasks, both eras). The last three are terminal. */
export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

/** A JSON-RPC error, as a failed task carries it. */
interface TaskError {
  code: number;
  message: string;
  data?: unknown;
}

/** How a task ends (or stops for input): what the worker, or the edge for a call it refused itself, writes. */
export interface TaskSettlement {
  status: Exclude<TaskStatus, 'working' | 'cancelled'>;
  statusMessage?: string | undefined;
  /** completed: the tool's result as a plain `tools/call` would answer it (an `isError` one included). */
  result?: Record<string, unknown> | undefined;
  /** failed: why there is no result. */
  error?: TaskError | undefined;
  /** input_required: what the tool asks (SEP-2322 `inputRequests`), and its opaque state for the next round. */
  inputRequests?: Record<string, unknown> | undefined;
  requestState?: string | undefined;
}

/** One task as stored (`<prefix>:task:<id>`, a hash of strings; JSON members parsed here). */
export interface TaskRecord extends Omit<TaskSettlement, 'status'> {
  taskId: string;
  /** Whose task it is (caller and server): every read and change names it, another caller sees no such task. */
  scope: string;
  status: TaskStatus;
  createdAt: number;
  lastUpdatedAt: number;
  ttlMs: number;
  /** Epoch ms after which the call no longer runs (its job's deadline). */
  deadlineAt: number;
  /** The job running the call now (one per input round): its late replies of earlier rounds settle nothing. */
  invocationId: string;
  tool: string;
  /** The call's arguments, kept only for a tool that may stop for input (its next round sends them again). */
  arguments?: Record<string, unknown> | undefined;
  /** input_required: the answers given so far (a round resumes once every request is answered). */
  inputResponses?: Record<string, unknown> | undefined;
  /** The SHA-256 of the API key that created it (key callers): the worker checks the key still holds at the job's start. */
  keyHash?: string | undefined;
  /** The `exp` (epoch ms) of the OAuth or narrowed token that created it: the job does not start past it. */
  credentialExpiresAt?: number | undefined;
  /** A narrowed token's id and its ancestors' (ADR 0084): the job does not start once any of them is revoked. */
  tokenChain?: string[] | undefined;
}

export const terminalStatuses: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);

/** JSON-RPC code of a failed task whose call's outcome is unknown (the worker stopped, or the state was lost). */
export const TASK_OUTCOME_UNKNOWN = -32603;

/**
 * A worker's reply as a task's end: a result is `completed` (an `isError` one too: the tool ran and said so); a
 * protocol error of an external MCP server, or a call whose outcome is unknown (ADR 0015), is `failed`; an
 * `input_required` result stops the task for input. Any other failure is a tool error, as a plain call answers it.
 */
export function settlementOf(reply: ToolInvokeResult): TaskSettlement {
  if (!reply.ok) {
    if (reply.error.code === 'tool.outcome_unknown')
      return {
        status: 'failed',
        statusMessage: reply.error.message,
        error: { code: TASK_OUTCOME_UNKNOWN, message: reply.error.message, data: { outcome: 'unknown' } },
      };
    return settlementOfResult({ content: [{ type: 'text', text: reply.error.message }], isError: true });
  }
  return settlementOfResult(reply.result);
}

/** A tool result (the worker's, or one the edge answered itself) as a task's end. */
export function settlementOfResult(result: ToolResultPayload): TaskSettlement {
  if (result.protocolError)
    return { status: 'failed', statusMessage: result.protocolError.message, error: result.protocolError };
  if (result.resultType === 'input_required')
    return {
      status: 'input_required',
      inputRequests: result.inputRequests ?? {},
      ...(result.requestState !== undefined ? { requestState: result.requestState } : {}),
    };
  const { content, structuredContent, isError } = result;
  return {
    status: 'completed',
    result: { content, ...(structuredContent ? { structuredContent } : {}), ...(isError ? { isError } : {}) },
  };
}

// Settles a task still waiting on this invocation: ARGV = invocation id, now, then field/value pairs.
const settleScript = `
local s = redis.call('HMGET', KEYS[1], 'status', 'invocationId')
if not s[1] or s[1] ~= 'working' or s[2] ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'inputRequests', 'requestState', 'inputResponses')
redis.call('HSET', KEYS[1], 'lastUpdatedAt', ARGV[2], unpack(ARGV, 3))
return 1`;

// Says what a task still working on this invocation waits for, and keeps it (and its deadline) at least until then:
// ARGV = invocation id, now, status message, deadline (ms), kept until (ms).
const noteScript = `
local s = redis.call('HMGET', KEYS[1], 'status', 'invocationId', 'createdAt', 'ttlMs', 'deadlineAt')
if not s[1] or s[1] ~= 'working' or s[2] ~= ARGV[1] then return 0 end
local ttl = math.max(tonumber(s[4]), tonumber(ARGV[5]) - tonumber(s[3]))
local deadline = math.max(tonumber(s[5]), tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'lastUpdatedAt', ARGV[2], 'statusMessage', ARGV[3], 'ttlMs', ttl, 'deadlineAt', deadline)
redis.call('PEXPIREAT', KEYS[1], tonumber(s[3]) + ttl)
return 1`;

// Cancels a task that has not ended: returns its status before (false when it does not exist or is another's).
const cancelScript = `
local s = redis.call('HMGET', KEYS[1], 'status', 'scope')
if not s[1] or s[2] ~= ARGV[1] then return false end
if s[1] == 'working' or s[1] == 'input_required' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'lastUpdatedAt', ARGV[2], 'statusMessage', ARGV[3])
end
return s[1]`;

// Adds answers to a task waiting for input (ARGV: scope, now, answers JSON, next invocation id). Returns
// false (none of the caller's), 'ignored' (not waiting), 'pending' (more to answer) or the round to run next as JSON.
const updateScript = `
local s = redis.call('HMGET', KEYS[1], 'status', 'scope', 'inputRequests', 'inputResponses', 'requestState')
if not s[1] or s[2] ~= ARGV[1] then return false end
if s[1] ~= 'input_required' then return 'ignored' end
local asked = cjson.decode(s[3] or '{}')
local given = cjson.decode(s[4] or '{}')
for k, v in pairs(cjson.decode(ARGV[3])) do if asked[k] ~= nil then given[k] = v end end
local pending = false
for k, _ in pairs(asked) do if given[k] == nil then pending = true end end
if pending then
  redis.call('HSET', KEYS[1], 'inputResponses', cjson.encode(given), 'lastUpdatedAt', ARGV[2])
  return 'pending'
end
redis.call('HSET', KEYS[1], 'status', 'working', 'invocationId', ARGV[4], 'lastUpdatedAt', ARGV[2])
redis.call('HDEL', KEYS[1], 'inputRequests', 'inputResponses', 'requestState')
return cjson.encode({ inputResponses = given, requestState = s[5] })`;

/** What a tasks/update round resolved to. */
export type TaskUpdate =
  | { kind: 'unknown' | 'ignored' | 'pending' }
  | { kind: 'resume'; inputResponses: Record<string, unknown>; requestState?: string | undefined };

const uuidShape = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The execution record's id of an invocation. Records are keyed by UUID (PostgreSQL `uuid`); a plain call's
 * invocation id is one, a task's (and its rounds' `<id>.r<n>`) is not, so it maps to a UUID derived from it (SHA-256,
 * version 8): the same id for every delivery of the job, so a re-delivered job's record is still stored once.
 */
export function executionRecordId(invocationId: string): string {
  if (uuidShape.test(invocationId)) return invocationId;
  const h = createHash('sha256').update(invocationId).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The next round's invocation id: a job id and execution lease of their own (`<task id>.r<n>`). */
export function roundInvocationId(taskId: string, round: number): string {
  return round <= 1 ? taskId : `${taskId}.r${round}`;
}

/** JSON-RPC internal error: the task's call ended, its result is not kept. */
const INTERNAL_ERROR = -32603;

/** The default bound of what one task keeps of its call's end in Redis (the worker's `TASK_MAX_RESULT_BYTES`). */
const DEFAULT_TASK_MAX_RESULT_BYTES = 1024 * 1024;

/**
 * A settlement too large to keep as the task's end: `failed`, saying so and how to raise the bound. A task's result
 * stays in Redis for its whole retention, so one unbounded answer would hold Redis memory for an hour; the call ran
 * and answered, only its answer is not kept.
 */
function resultTooLarge(bytes: number, maxBytes: number): TaskSettlement {
  const message =
    `The task's result (${bytes} bytes) was too large to keep: tasks keep at most ${maxBytes} bytes. The call ran; ` +
    'its result was dropped. Call the tool without a task, or raise TASK_MAX_RESULT_BYTES on the workers.';
  return {
    status: 'failed',
    statusMessage: message,
    error: { code: INTERNAL_ERROR, message, data: { resultBytes: bytes, maxBytes } },
  };
}

/** Options of `TaskRecords`. */
interface TaskRecordsOptions {
  /** Most bytes a settlement may store (its result, error or input requests as JSON); a larger one fails the task. */
  maxResultBytes?: number;
}

/** Task records in Redis, as both the edge and the worker change them (every change is one atomic step). */
export class TaskRecords {
  private readonly redis: Redis | Cluster;
  private readonly keys: RedisKeys;
  private readonly maxResultBytes: number;

  constructor(redis: Redis | Cluster, prefix: string, options: TaskRecordsOptions = {}) {
    this.redis = redis;
    this.keys = redisKeys(prefix);
    this.maxResultBytes = options.maxResultBytes ?? DEFAULT_TASK_MAX_RESULT_BYTES;
  }

  /**
   * Stored before the job is enqueued: a task id the caller holds is always one `tasks/get` resolves. `listed: false`:
   * no entry in a caller's list (an anonymous caller's task, reachable by its id only).
   */
  async create(record: TaskRecord, { listed = true }: { listed?: boolean } = {}): Promise<void> {
    const key = this.keys.task(record.taskId);
    const list = this.keys.tasksOf(record.scope);
    if (!listed) {
      await this.redis.multi().hset(key, encode(record)).pexpire(key, record.ttlMs).exec();
      return;
    }
    if (this.redis.isCluster) return this.createInCluster(record, key, list);
    await this.redis
      .multi()
      .hset(key, encode(record))
      .pexpire(key, record.ttlMs)
      .zadd(list, record.createdAt, record.taskId)
      .zremrangebyscore(list, '-inf', record.createdAt - record.ttlMs)
      .pexpire(list, record.ttlMs)
      .exec();
  }

  /**
   * In a cluster the record and the caller's list are in different slots (the record is found by task id alone, so no
   * hash tag can join them): the list first, then the record, each in one MULTI. A failure between them leaves an id
   * whose record does not exist, which `list` leaves out; never a record its caller's list misses.
   */
  private async createInCluster(record: TaskRecord, key: string, list: string): Promise<void> {
    await this.redis
      .multi()
      .zadd(list, record.createdAt, record.taskId)
      .zremrangebyscore(list, '-inf', record.createdAt - record.ttlMs)
      .pexpire(list, record.ttlMs)
      .exec();
    await this.redis.multi().hset(key, encode(record)).pexpire(key, record.ttlMs).exec();
  }

  /** The task, if it exists and is the caller's (`scope`); `scope` undefined: anyone's (the worker). */
  async get(taskId: string, scope?: string): Promise<TaskRecord | undefined> {
    const hash = await this.redis.hgetall(this.keys.task(taskId));
    const record = decode(taskId, hash);
    return record && (scope === undefined || record.scope === scope) ? record : undefined;
  }

  /** The caller's tasks, newest first, from `offset` (ids whose records expired are left out). */
  async list(scope: string, offset: number, limit: number): Promise<{ tasks: TaskRecord[]; more: boolean }> {
    const ids = await this.redis.zrevrange(this.keys.tasksOf(scope), offset, offset + limit);
    const page = ids.slice(0, limit);
    const tasks = (await this.records(page))
      .map((hash, i) => decode(page[i]!, hash))
      .filter((t): t is TaskRecord => t !== undefined && t.scope === scope);
    return { tasks, more: ids.length > limit };
  }

  /** The hashes of `ids`, in order: one pipeline on one Redis; in a cluster (slots apart) sent together, node by node. */
  private async records(ids: string[]): Promise<Record<string, string>[]> {
    if (this.redis.isCluster) return Promise.all(ids.map((id) => this.redis.hgetall(this.keys.task(id))));
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.task(id));
    const hashes = (await pipeline.exec()) ?? [];
    return ids.map((_, i) => (hashes[i]?.[1] ?? {}) as Record<string, string>);
  }

  /**
   * Writes how the task's current round ended, if it is still working on `invocationId`: `settled`, `too_large` (a
   * settlement over the bound, written as `resultTooLarge` instead: never a part of it), or false (not working on it).
   */
  async settle(
    taskId: string,
    invocationId: string,
    settlement: TaskSettlement,
    now = Date.now(),
  ): Promise<'settled' | 'too_large' | false> {
    let encoded = encode(settlement);
    const bytes = Object.values(encoded).reduce((n, v) => n + Buffer.byteLength(v), 0);
    const tooLarge = bytes > this.maxResultBytes;
    if (tooLarge) encoded = encode(resultTooLarge(bytes, this.maxResultBytes));
    const fields = Object.entries(encoded).flat();
    const done = await this.redis.eval(settleScript, 1, this.keys.task(taskId), invocationId, String(now), ...fields);
    if (done !== 1) return false;
    return tooLarge ? 'too_large' : 'settled';
  }

  /**
   * Says what the task waits for (`statusMessage`) while it is still working on `invocationId`, its deadline moved to
   * `deadlineAt` and the record kept until `keepUntil` at least (epoch ms; a call held for an approval waits that long).
   */
  async note(
    taskId: string,
    invocationId: string,
    wait: { statusMessage: string; deadlineAt: number; keepUntil: number },
    now = Date.now(),
  ): Promise<boolean> {
    const args = [invocationId, String(now), wait.statusMessage, String(wait.deadlineAt), String(wait.keepUntil)];
    return (await this.redis.eval(noteScript, 1, this.keys.task(taskId), ...args)) === 1;
  }

  /** Cancels the caller's task unless it ended: its status before, or undefined when there is no such task. */
  async cancel(taskId: string, scope: string, message: string, now = Date.now()): Promise<TaskStatus | undefined> {
    const before = await this.redis.eval(cancelScript, 1, this.keys.task(taskId), scope, String(now), message);
    return typeof before === 'string' ? (before as TaskStatus) : undefined;
  }

  /** Adds a caller's answers to a task waiting for input; once all are given, the next round's invocation runs. */
  async update(
    taskId: string,
    scope: string,
    answers: Record<string, unknown>,
    nextInvocationId: string,
  ): Promise<TaskUpdate> {
    const args = [scope, String(Date.now()), JSON.stringify(answers), nextInvocationId];
    const out = await this.redis.eval(updateScript, 1, this.keys.task(taskId), ...args);
    if (typeof out !== 'string') return { kind: 'unknown' };
    if (out === 'ignored' || out === 'pending') return { kind: out };
    // A missing hash field comes back from the script as `false`: no state.
    const round = JSON.parse(out) as { inputResponses: Record<string, unknown>; requestState?: unknown };
    const requestState = typeof round.requestState === 'string' ? round.requestState : undefined;
    return { kind: 'resume', inputResponses: round.inputResponses, requestState };
  }
}

const jsonFields = ['result', 'error', 'inputRequests', 'inputResponses', 'arguments', 'tokenChain'] as const;
const numberFields = ['createdAt', 'lastUpdatedAt', 'ttlMs', 'deadlineAt', 'credentialExpiresAt'] as const;

function encode(fields: Partial<TaskRecord>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || k === 'taskId') continue;
    out[k] = (jsonFields as readonly string[]).includes(k) ? JSON.stringify(v) : String(v as string | number);
  }
  return out;
}

function decode(taskId: string, hash: Record<string, string>): TaskRecord | undefined {
  if (!hash.status || !hash.scope) return undefined;
  const record: Record<string, unknown> = { ...hash, taskId };
  for (const k of numberFields) if (hash[k] !== undefined) record[k] = Number(hash[k]);
  for (const k of jsonFields) if (hash[k] !== undefined) record[k] = JSON.parse(hash[k]) as unknown;
  return record as unknown as TaskRecord;
}
