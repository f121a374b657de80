import { argumentsAsSent, auditActor, taskRefusal, taskRefusalEvent } from '@toolplane/access';
import type { AuditEventInput, CallRules, CatalogTool, ToolInvokeJob } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { WorkspaceAccessReader } from './step-access.ts';

/** Why a task's caller may no longer call its tool with its arguments (as a new call of theirs would be refused), or undefined. */
export type TaskAccessCheck = (job: ToolInvokeJob) => Promise<string | undefined>;

interface TaskAccessDeps {
  /** The job's tool in the catalog version it was validated against, and that version's server name. */
  plans: {
    get(serverId: string, version: number, tool: string): Promise<CatalogTool | undefined>;
    serverName(serverId: string, version: number): Promise<string | undefined>;
  };
  workspaceAccess: WorkspaceAccessReader;
  /** Where a refusal's `tool.call_refused` event goes. */
  audit: { add(event: AuditEventInput): void };
  /** A refused call ran nothing: its windowed quota units go back, as a held call's denied by its approver. */
  quotaRefunds?: ((charge: NonNullable<CallRules['quota']>) => Promise<void>) | undefined;
  log: Logger;
}

/**
 * A task's call decided again when its job starts: a task's job may wait in the queue (a call held for an
 * approval, for hours), and the caller's access may have changed meanwhile (a policy narrowed or deleted, the key
 * limited to other servers). The job carries its caller (`stepCaller`, as a workflow's steps do, ADR 0045); the
 * decision is the edge's, from the policies published now, on the arguments as sent; a held call's approval stands
 * in for the conditions it was held by (`taskRefusal`). Fails closed: a held job without its caller, a tool gone from
 * its catalog version or policies that cannot be read refuse. A job without its caller that was not held was queued by
 * an edge older than this check (one that has not rolled yet): the edge's decision, seconds old, stands. A refusal
 * is a `tool.call_refused` audit event, and gives the call's windowed quota units back (its calls in flight end with
 * the job).
 */
export function taskAccessCheck(deps: TaskAccessDeps): TaskAccessCheck {
  return async (job) => {
    const reason = await refusalOf(deps, job);
    if (reason === undefined) return undefined;
    deps.audit.add(refusalEvent(job, reason, await serverNameOf(deps, job)));
    if (job.rules?.quota)
      await deps
        .quotaRefunds?.(job.rules.quota)
        .catch((err: unknown) =>
          deps.log.warn(
            { err: String(err), invocationId: job.invocationId },
            'a refused task’s quota units not given back',
          ),
        );
    return reason;
  };
}

async function refusalOf(deps: TaskAccessDeps, job: ToolInvokeJob): Promise<string | undefined> {
  if (!job.stepCaller) {
    // Queued by an edge older than this check (a rolling upgrade): its decision at the enqueue stands for a call that
    // goes straight to the queue, seconds old; a held call may have waited for hours and is refused.
    if (!job.rules?.approval) return undefined;
    return 'the task does not say who called, so its access cannot be decided again';
  }
  const [entry, serverName, access] = await Promise.all([
    deps.plans.get(job.serverId, job.catalogVersion, job.tool),
    serverNameOf(deps, job),
    deps.workspaceAccess(job.principal.workspaceId),
  ]);
  if (!entry) return `the tool "${job.tool}" is no longer in its catalog version`;
  if (!access) return "the workspace's access policies could not be read";
  const call = { serverId: job.serverId, serverName, tool: { def: entry.tool } };
  const args = argumentsAsSent(entry, job.arguments);
  return taskRefusal(access, job.stepCaller, call, { args, approved: job.rules?.approval !== undefined });
}

const serverNameOf = async (deps: TaskAccessDeps, job: ToolInvokeJob) =>
  (await deps.plans.serverName(job.serverId, job.catalogVersion).catch(() => undefined)) ?? job.serverId;

function refusalEvent(job: ToolInvokeJob, reason: string, serverName: string): AuditEventInput {
  const base = {
    workspaceId: job.principal.workspaceId,
    serverId: job.serverId,
    serverName,
    tool: job.tool,
    actor: auditActor(job.principal),
    source: { requestId: job.invocationId, traceId: null, clientAddress: null, userAgent: null },
    ...(job.principal.delegation ? { delegation: job.principal.delegation } : {}),
  };
  return taskRefusalEvent(base, { refusedBy: 'access', task: job.task?.id ?? job.invocationId, reason });
}
