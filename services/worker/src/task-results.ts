import type { ToolInvokeJob, ToolInvokeResult } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import {
  credentialRefusal,
  settlementOf,
  type StandingWords,
  type TaskRecord,
  type TaskRecords,
} from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';
import type { HeldCallStart } from './held-calls.ts';
import type { TaskAccessCheck } from './task-access.ts';

type Handler<A extends unknown[]> = (job: ToolInvokeJob, ...rest: A) => Promise<ToolInvokeResult>;

/** Why a task's caller may no longer run its call (as a new call of theirs would be refused), or undefined. */
export type TaskCallerCheck = (job: ToolInvokeJob, task: TaskRecord) => Promise<string | undefined>;

/** JSON-RPC code of a task whose call was not run because its caller's credential no longer holds (the edge's 401/403). */
const CALLER_REFUSED = -32001;

function refused(job: ToolInvokeJob, code: string, message: string): ToolInvokeResult {
  return { v: 1, invocationId: job.invocationId, ok: false, error: { kind: 'user', code, message } };
}

/**
 * The checks a new call of the task's caller would pass at the edge, made again when its job starts (a task's job may
 * wait in the queue): the API key is still published, not revoked, with the `runtime` scope and this server; a
 * narrowed token (nor any of its chain) not revoked; an OAuth or narrowed token has not expired; the person it acts
 * for (`x-username`, a token's user) is still that workspace's person (`credentialRefusal`, the judgement event
 * subscriptions follow too). Two `HGET`s at most (and an `EXISTS` per token of a narrowed token's chain), on task
 * jobs only.
 */
export function taskCallerCheck(redis: RedisClient, prefix: string): TaskCallerCheck {
  return (job, task) => {
    const { workspaceId, username, userId } = job.principal;
    const { keyHash, tokenChain, credentialExpiresAt: expiresAt } = task;
    return credentialRefusal(
      redis,
      prefix,
      { workspaceId, serverId: job.serverId, keyHash, tokenChain, expiresAt, username, userId },
      { now: Date.now(), words: taskWords },
    );
  };
}

/**
 * The same judgement before each step of a workflow on a hosted server's tool (ADR 0090, "judged when it acts"): the
 * job's `callerStanding` (the key's hash, a narrowed token's chain, the token's expiry) and its person, read from Redis
 * as they are now, the key's servers against the step's server. A job without one (an anonymous caller's) stands.
 */
export function workflowCallerCheck(redis: RedisClient, prefix: string) {
  return (job: Pick<ToolInvokeJob, 'principal' | 'callerStanding'>, serverId: string): Promise<string | undefined> => {
    if (!job.callerStanding) return Promise.resolve(undefined);
    const { workspaceId, username, userId } = job.principal;
    const person = userId !== undefined ? { username, userId } : {};
    return credentialRefusal(
      redis,
      prefix,
      { workspaceId, serverId, ...job.callerStanding, ...person },
      { now: Date.now(), words: workflowWords },
    ).catch(() => "the caller's credential could not be checked");
  };
}

const workflowWords: StandingWords = {
  key: 'the API key that called the workflow',
  keyGone: 'the API key that called the workflow was revoked or deleted',
  token: "the caller's access token",
  person: (username) => `the person "${username}" it acts for is gone`,
};

/** How a task's refusal names its caller's credential. */
const taskWords: StandingWords = {
  key: 'the API key that created it',
  keyGone: 'the API key that created it was revoked',
  token: "the caller's access token",
  person: (username) => `the person "${username}" it acts for is gone`,
};

interface TaskResultsOptions {
  /** Read the task before running its job (false: the abandoned-job handler, which sends nothing). */
  checkFirst?: boolean;
  /** The caller's credential and person, checked when the job starts (with `checkFirst`). */
  caller?: TaskCallerCheck | undefined;
  /** The caller's access to the tool with these arguments, decided again when the job starts (with `checkFirst`). */
  access?: TaskAccessCheck | undefined;
  /** A call held for someone else's approval runs only on a grant, which it spends (with `checkFirst`). */
  held?: HeldCallStart | undefined;
}

/**
 * The worker's side of durable tasks (ADR 0040). A job that runs a task (`job.task`) runs only while its task is
 * `working` on it: a task cancelled while its job waited, or lost with Redis's data, sends nothing. Nor does a task
 * whose caller's key was revoked (or token expired, or person removed) since it was created, nor one whose caller may
 * no longer call its tool with its arguments under the policies published now: it fails saying so. Its
 * reply settles the task record (any edge then answers `tasks/get` from it) before it is published to the edge that
 * enqueued it, which may be gone. Jobs of plain calls pass straight through: no Redis command is added to them.
 */
export function withTaskResults<A extends unknown[]>(
  handle: Handler<A>,
  tasks: TaskRecords,
  log: Logger,
  { checkFirst = true, caller, access, held }: TaskResultsOptions = {},
): Handler<A> {
  const runTask = async (arrived: ToolInvokeJob & { task: NonNullable<ToolInvokeJob['task']> }, ...rest: A) => {
    let job = arrived;
    const taskId = job.task.id;
    if (checkFirst) {
      const task = await tasks.get(taskId).catch(() => null);
      if (task === null)
        return refused(job, 'queue.unavailable', 'The task could not be read (Redis unavailable): nothing was sent.');
      if (!task || task.status !== 'working' || task.invocationId !== job.invocationId) {
        log.info({ taskId, status: task?.status ?? 'lost' }, 'task job not run: its task is no longer working on it');
        return refused(job, 'task.not_working', `The task is ${task?.status ?? 'lost'}: its call was not run.`);
      }
      const refusal = caller ? await callerRefusal(caller, job, task) : undefined;
      if (refusal) return refuseTask(tasks, log, job, { why: refusal });
      // The caller may still call this tool with these arguments, as the policies say now: before a held
      // call's grant is spent, so a refused call spends nothing.
      const denied = access ? await accessRefusal(access, job) : undefined;
      if (denied) return refuseTask(tasks, log, job, { why: denied, code: 'access.denied' });
      if (job.rules?.approval && held) {
        const start = await held(job, job.rules.approval);
        if ('refused' in start) return refuseTask(tasks, log, job, { why: start.refused, code: 'approval.refused' });
        job = { ...start.run, task: job.task };
      }
    }
    const reply = await handle(job, ...rest);
    const settled = await tasks
      .settle(taskId, job.invocationId, settlementOf(reply))
      .catch((err: unknown) => log.warn({ err, taskId }, 'task result not written (Redis unavailable)'));
    if (settled === 'too_large') log.warn({ taskId, tool: job.tool }, 'task result too large to keep: the task failed');
    return reply;
  };
  // A plain call's job goes straight to the handler: no await, no promise of this layer.
  return (job, ...rest) => (job.task ? runTask({ ...job, task: job.task }, ...rest) : handle(job, ...rest));
}

/** The caller check's refusal; a check that cannot be made (Redis unavailable) refuses too (fails closed). */
async function callerRefusal(check: TaskCallerCheck, job: ToolInvokeJob, task: TaskRecord): Promise<string> {
  try {
    return (await check(job, task)) ?? '';
  } catch {
    return "the caller's credential could not be checked (Redis unavailable)";
  }
}

/** The access check's refusal; a check that cannot be made (Redis unavailable) refuses too (fails closed). */
async function accessRefusal(check: TaskAccessCheck, job: ToolInvokeJob): Promise<string | undefined> {
  try {
    const why = await check(job);
    return why === undefined ? undefined : `The task's call was not run: ${why}`;
  } catch {
    return "The task's call was not run: its caller's access could not be decided (Redis unavailable).";
  }
}

/** A task whose caller no longer holds: failed, saying why; its call is not run. */
async function refuseTask(
  tasks: TaskRecords,
  log: Logger,
  job: ToolInvokeJob & { task: { id: string } },
  { why, code = 'task.caller_refused' }: { why: string; code?: string },
): Promise<ToolInvokeResult> {
  const message = code === 'task.caller_refused' ? `The task's call was not run: ${why}.` : why;
  log.info({ taskId: job.task.id, reason: why }, 'task job not run: its caller no longer holds');
  await tasks
    .settle(job.task.id, job.invocationId, {
      status: 'failed',
      statusMessage: message,
      error: { code: CALLER_REFUSED, message },
    })
    .catch((err: unknown) => log.warn({ err, taskId: job.task.id }, 'task refusal not written (Redis unavailable)'));
  return refused(job, code, message);
}
