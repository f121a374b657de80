import {
  userSecrets,
  workspaceSecrets,
  type ToolInvokeJob,
  type ToolInvokeResult,
  type WorkflowPlan,
} from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import { RateLimitedError } from './rate-limits.ts';
import { jobDebugScrubber } from './guardrails.ts';
import type { RunOutcome } from './result-chain.ts';
import { mcpHeaders } from './external-mcp.ts';
import type { SecretResolver } from './secret-resolver.ts';
import { personToken } from './connect-links.ts';
import { checkStep } from './step-checks.ts';
import { recordLabels, type RecordLabels } from './session-labels.ts';
import { stepRunner } from './tool-steps.ts';
import { runWorkflowTool, WorkflowStopped, type WorkflowCall } from './workflow-runner.ts';
import { type Invocation, type ProcessorDeps, guardDeps } from './invocation.ts';
import { exchangeHttp, rateLimited } from './tool-http.ts';

/** A workflow tool: its plan for the caller (a person's own secrets), its steps, and steps that call tools. */

/** Each step's end as a progress notification, when the caller asked for progress. */
function stepProgress(call: Invocation) {
  const { job, emit } = call;
  if (!emit || !job.progress) return undefined;
  return (s: { stepId: string; status: 'ok' | 'error'; completed: number }) =>
    emit({
      kind: 'progress',
      progress: s.completed,
      message: `Step "${s.stepId}" ${s.status === 'ok' ? 'done' : 'failed'} (${s.completed} step${s.completed === 1 ? '' : 's'} run)`,
    });
}

/** A Flower / Arazzo workflow: every HTTP attempt becomes a step of the record. */
export async function runWorkflow(
  deps: ProcessorDeps,
  call: Invocation,
  plan: WorkflowPlan,
): Promise<RunOutcome | ToolInvokeResult> {
  const { job } = call;
  const onStepEnd = stepProgress(call);
  // What the steps brought into the caller's session (written as each answered), listed in the call's record.
  const brought: RecordLabels = [];
  // For an external user: `$secrets.NAME` is that user's own secret NAME, never the shared one
  // (unless `fallbackToShared`). A shared one is the server's, else the workspace's.
  const workflowPlan = job.principal.userId
    ? await userWorkflowPlan(deps.secrets, job, plan, await call.fallback())
    : plan;
  const workspaceSecretNames = workspaceFallbacks(job, plan, workflowPlan);
  // Only while a debug session is open are the attempts' headers and bodies captured (redacted, capped).
  const session = await deps.debug.active(job.serverId);
  const scrub = session ? await jobDebugScrubber(guardDeps(deps), job) : undefined;
  const run = await runWorkflowTool(
    workflowPlan,
    {
      // Steps on an operation of the person's own account (ADR 0027): their token, or a connect link.
      personToken: ({ instanceId, auth, app, stale }) =>
        personToken(deps, {
          call: job,
          auth,
          app,
          connection: (userId) => userSecrets.oauth(job.principal.workspaceId, userId, instanceId),
          stale,
        }),
      arguments: job.arguments,
      callTool: toolSteps(deps, call, plan, brought),
      // Steps on a connector instance's operations spend its rate limits as the user's plain calls do.
      ...(job.principal.userId ? { rateLimitUser: job.principal.userId } : {}),
      remainingMs: call.remaining,
      cancel: call.cancel,
      beforeFirstRequest: call.markSent,
      workspaceSecretNames,
      ...(onStepEnd ? { onStepEnd } : {}),
      // Caller-supplied `Config-*` values and the caller's token: never logged; redacted from result and record.
      ...(job.config ? { config: job.config } : {}),
      ...(job.callerToken !== undefined && plan.callerToken ? { currentUserToken: job.callerToken } : {}),
      ...(job.principal.username && job.principal.userId
        ? {
            currentUser: {
              ...(await deps.userAttributes?.(job.principal.workspaceId, job.principal.userId)),
              name: job.principal.username,
            },
            connectorUser: { id: job.principal.userId, name: job.principal.username, fallbackToShared: call.fallback },
          }
        : {}),
      ...(session
        ? {
            captureExchange: (request, outcome, sensitive) => deps.debug.exchange(request, outcome, sensitive, scrub),
          }
        : {}),
    },
    { secrets: deps.secrets, limits: deps.limits, authorizer: deps.authorizer, rateLimits: deps.rateLimits },
  ).catch((err: unknown) => {
    // Stopped by the call's own error (no connection, a rate limit): recorded and answered as for a plain tool.
    if (!(err instanceof WorkflowStopped)) throw err;
    call.steps.push(...err.steps);
    if (err.cause instanceof RateLimitedError) return err.cause;
    throw err.cause;
  });
  if (run instanceof RateLimitedError) return rateLimited(call, run.refusal);
  call.steps.push(...run.steps);
  return {
    result: run.result,
    secretValues: run.secretValues(),
    ok: run.ok,
    ...(run.ok ? {} : { failure: { errorCode: run.errorCode!, message: run.message! } }),
    tree: run.tree,
    ...(session ? { debug: { sessionId: session.sessionId, steps: run.debugSteps ?? [] } } : {}),
    ...(brought.length > 0 ? { labels: recordLabels(brought) } : {}),
  };
}

/**
 * A workflow's tool steps (docs/adr/0039), run by the same pieces as a call of each tool: an HTTP tool's credentials
 * (an external user's own, a person's token and its one refresh; never the caller's `X-Upstream-Authorization`, which
 * is for the workflow's own server) and its request; an external MCP tool's headers (an external user's connection on
 * the server offering it). No idempotency key: one call's steps are different requests.
 */
function toolSteps(
  deps: ProcessorDeps,
  call: Invocation,
  plan: WorkflowPlan,
  brought: RecordLabels,
): WorkflowCall['callTool'] {
  const { upstreamAuthorization: _caller, ...job } = call.job;
  return stepRunner(plan, {
    userId: job.principal.userId,
    rateLimits: deps.rateLimits,
    cancel: call.cancel,
    http: (tool, args, limits, markSent) =>
      exchangeHttp(
        deps,
        { ...call, job: { ...job, arguments: args }, markSent, steps: [] },
        { plan: tool, keyHeader: undefined, limits },
      ),
    mcpHeaders: (tool, serverId) =>
      mcpHeaders(deps.secrets, { ...job, serverId: serverId ?? job.serverId }, tool, call.fallback),
    checks: async (step, args) => {
      const checked = await checkStep(deps, job, step, args);
      const bring = 'brought' in checked ? checked.brought : undefined;
      if (!bring) return checked;
      return { ...checked, brought: async () => recorded(brought, await bring()) };
    },
  });
}

/**
 * A workflow plan whose `$secrets.NAME` are the external user's own secrets: every one must exist,
 * unless the server's config says `fallbackToShared` (then a missing one is the shared secret: the
 * server's, else the workspace's, see `workspaceFallbacks`).
 */
async function userWorkflowPlan(
  secrets: SecretResolver,
  job: ToolInvokeJob,
  plan: WorkflowPlan,
  fallbackToShared: boolean,
): Promise<WorkflowPlan> {
  const { workspaceId, userId, username } = job.principal;
  const secretNames: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of Object.keys(plan.secretNames)) {
    const own = userSecrets.workflow(workspaceId, userId!, name);
    const found = (await secrets.resolve(own, { fresh: true })) !== undefined;
    secretNames[name] = found || !fallbackToShared ? own : plan.secretNames[name]!;
    if (!found && !fallbackToShared) missing.push(name);
  }
  if (missing.length > 0)
    throw new UserError(
      'secret.not_found',
      `User "${username}" has no value for ${missing.map((m) => `$secrets.${m}`).join(', ')} ` +
        '(the shared secrets are never used for a user). ' +
        `Set each with PUT /api/v1/external_users/${username}/secrets/{NAME} { "value": … }.`,
    );
  return { ...plan, secretNames };
}

/**
 * The workspace's secret of each `$secrets.NAME` that `plan` reads from the server's own (`shared`: the
 * catalog's plan), read when the server has no secret of that name. A name mapped to an external user's
 * own secret gets none: a user's secret is never replaced by a shared one unless `fallbackToShared` chose it.
 */
function workspaceFallbacks(job: ToolInvokeJob, shared: WorkflowPlan, plan: WorkflowPlan): Record<string, string> {
  const names = Object.keys(plan.secretNames).filter((n) => plan.secretNames[n] === shared.secretNames[n]);
  return Object.fromEntries(names.map((n) => [n, workspaceSecrets.workflow(job.principal.workspaceId, n)]));
}

/** Adds what a step brought to the call's list; the labels as they were. */
function recorded(list: RecordLabels, labels: RecordLabels): RecordLabels {
  list.push(...labels);
  return labels;
}
