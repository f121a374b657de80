import {
  argumentsAsSent,
  auditActor,
  CallerFacets,
  judgePortable,
  ruleCallerOf,
  ruleDecisionEvent,
  rules,
  settingsFor,
  taskRefusal,
  taskRefusalEvent,
  type PortableRule,
  type Rule,
} from '@toolplane/access';
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
  /**
   * The server's settings of portable rules (ADR 0101) as its live catalog publishes them now (`argumentGuardrailsReader`);
   * absent: the portable rules are not judged again.
   */
  ruleSettings?: ((serverId: string) => Promise<Record<string, unknown> | undefined>) | undefined;
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
 * an edge older than this check (one that has not rolled yet): the edge's decision, seconds old, stands. Access
 * granted, the portable rules of a call (ADR 0101) judge it again with its server's settings published now (a limit
 * lowered while the task waited refuses it; settings that cannot be read refuse it). A refusal is a `tool.call_refused`
 * audit event (a portable rule's names its code, never its message), and gives the call's windowed quota units back
 * (its calls in flight end with the job). A log-only rule's would-be refusal was recorded when the call was queued.
 */
export function taskAccessCheck(deps: TaskAccessDeps): TaskAccessCheck {
  return async (job) => {
    const refusal = await refusalOf(deps, job);
    if (refusal === undefined) return undefined;
    deps.audit.add(refusalEvent(job, refusal, await serverNameOf(deps, job)));
    if (job.rules?.quota)
      await deps
        .quotaRefunds?.(job.rules.quota)
        .catch((err: unknown) =>
          deps.log.warn(
            { err: String(err), invocationId: job.invocationId },
            'a refused task’s quota units not given back',
          ),
        );
    return refusal.reason;
  };
}

/** Why a task's call is refused at its start: the reason its task says, and the portable rule's name and code if one. */
interface TaskRefusal {
  readonly reason: string;
  readonly rule?: { readonly name: string; readonly code: string };
}

async function refusalOf(deps: TaskAccessDeps, job: ToolInvokeJob): Promise<TaskRefusal | undefined> {
  if (!job.stepCaller) {
    // Queued by an edge older than this check (a rolling upgrade): its decision at the enqueue stands for a call that
    // goes straight to the queue, seconds old; a held call may have waited for hours and is refused.
    if (!job.rules?.approval) return undefined;
    return { reason: 'the task does not say who called, so its access cannot be decided again' };
  }
  const [entry, serverName, access] = await Promise.all([
    deps.plans.get(job.serverId, job.catalogVersion, job.tool),
    serverNameOf(deps, job),
    deps.workspaceAccess(job.principal.workspaceId),
  ]);
  if (!entry) return { reason: `the tool "${job.tool}" is no longer in its catalog version` };
  if (!access) return { reason: "the workspace's access policies could not be read" };
  const call = { serverId: job.serverId, serverName, tool: { def: entry.tool } };
  const args = argumentsAsSent(entry, job.arguments);
  const reason = taskRefusal(access, job.stepCaller, call, { args, approved: job.rules?.approval !== undefined });
  if (reason !== undefined) return { reason };
  return portableRefusal(deps, job, { tool: entry.tool, args, grants: access.taskGrants });
}

/** The portable rules a call meets (ADR 0101), in the list's order. */
const callPortableRules: readonly PortableRule[] = (rules as readonly Rule[]).flatMap((rule) =>
  rule.portable && rule.paths.includes('call') ? [rule.portable] : [],
);

/** The first portable rule that refuses the call now, with its server's settings as published now; undefined: none. */
async function portableRefusal(
  deps: TaskAccessDeps,
  job: ToolInvokeJob,
  call: {
    tool: CatalogTool['tool'];
    args: Readonly<Record<string, unknown>>;
    /** The workspace's task grants as published now (the task-grant rule's facet). */
    grants: Parameters<typeof ruleCallerOf>[1];
  },
): Promise<TaskRefusal | undefined> {
  if (!deps.ruleSettings || callPortableRules.length === 0) return undefined;
  const all = await deps.ruleSettings(job.serverId).catch(() => 'unreadable' as const);
  const tool = { name: call.tool.name, inputSchema: call.tool.inputSchema };
  const facets = new CallerFacets(ruleCallerOf(job.principal, call.grants));
  for (const rule of callPortableRules) {
    const settings = all === 'unreadable' ? 'invalid' : settingsFor(rule, all);
    if (settings === undefined || (settings !== 'invalid' && !rule.appliesTo(tool, settings.settings))) continue;
    const decision = judgePortable(rule, settings, { args: call.args, tool, facets });
    if (decision && 'refuse' in decision)
      return { reason: decision.refuse.message, rule: { name: rule.name, code: decision.refuse.code } };
  }
  return undefined;
}

const serverNameOf = async (deps: TaskAccessDeps, job: ToolInvokeJob) =>
  (await deps.plans.serverName(job.serverId, job.catalogVersion).catch(() => undefined)) ?? job.serverId;

function refusalEvent(job: ToolInvokeJob, refusal: TaskRefusal, serverName: string): AuditEventInput {
  const base = {
    workspaceId: job.principal.workspaceId,
    serverId: job.serverId,
    serverName,
    tool: job.tool,
    actor: auditActor(job.principal),
    source: { requestId: job.invocationId, traceId: null, clientAddress: null, userAgent: null },
    ...(job.principal.delegation ? { delegation: job.principal.delegation } : {}),
  };
  const { reason, rule } = refusal;
  if (rule)
    return ruleDecisionEvent(base, {
      rule: rule.name,
      code: rule.code,
      kind: 'refused',
      invocationId: job.invocationId,
    });
  return taskRefusalEvent(base, { refusedBy: 'access', task: job.task?.id ?? job.invocationId, reason });
}
