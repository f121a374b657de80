import type { ToolInvokeJob, ToolInvokeResult } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { settlementOf, type TaskRecords } from '@toolplane/queue';

type Handler<A extends unknown[]> = (job: ToolInvokeJob, ...rest: A) => Promise<ToolInvokeResult>;

function refused(job: ToolInvokeJob, code: string, message: string): ToolInvokeResult {
  return { v: 1, invocationId: job.invocationId, ok: false, error: { kind: 'user', code, message } };
}

/**
 * The worker's side of durable tasks (ADR 0040). A job that runs a task (`job.task`) runs only while its task is
 * `working` on it: a task cancelled while its job waited, or lost with Redis's data, sends nothing. Its reply settles
 * the task record (any edge then answers `tasks/get` from it) before it is published to the edge that enqueued it,
 * which may be gone. Jobs of plain calls pass straight through: no Redis command is added to them.
 */
export function withTaskResults<A extends unknown[]>(
  handle: Handler<A>,
  tasks: TaskRecords,
  log: Logger,
  checkFirst = true,
): Handler<A> {
  const runTask = async (job: ToolInvokeJob & { task: NonNullable<ToolInvokeJob['task']> }, ...rest: A) => {
    const taskId = job.task.id;
    if (checkFirst) {
      const task = await tasks.get(taskId).catch(() => null);
      if (task === null)
        return refused(job, 'queue.unavailable', 'The task could not be read (Redis unavailable): nothing was sent.');
      if (!task || task.status !== 'working' || task.invocationId !== job.invocationId) {
        log.info({ taskId, status: task?.status ?? 'lost' }, 'task job not run: its task is no longer working on it');
        return refused(job, 'task.not_working', `The task is ${task?.status ?? 'lost'}: its call was not run.`);
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
