import {
  queueNames,
  recordCaller,
  userSecrets,
  workspaceSecrets,
  type ExecutionRecord,
  type ExecutionStep,
  type ExecutionTreeNode,
  type ToolInvokeEvent,
  type ToolInvokeJob,
  type ToolInvokeResult,
  type ToolResultPayload,
  type ExecutionPlan,
  type HttpOperationPlan,
  type ServerIdentitySettings,
  type WorkflowPlan,
} from '@toolplane/contracts';
import { toAppError, TransientError, UserError, type AppError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import { executionRecordId } from '@toolplane/queue';
import type { Authorizer } from './auth.ts';
import type { DebugSessions } from './debug-sessions.ts';
import {
  decideDelivery,
  idempotencyKeyFor,
  idempotencyKeyHeader,
  isResendable,
  outcomeUnknownError,
  type ExecutionLeases,
} from './execution-lease.ts';
import type { PlanCache } from './catalog-cache.ts';
import { buildRequest, errorResult, sendRequest, toToolResult, type HttpLimits } from './http-operation.ts';
import { rateLimitMessage, RateLimitedError, type RateLimits } from './rate-limits.ts';
import type { ExecutionRecordSink, PublishedReplies, QuotaMeter, ReceivedJob } from '@toolplane/queue';
import {
  attr,
  currentTraceIds,
  EXECUTE_TOOL,
  guardrailAttributes,
  extractContext,
  MESSAGING_SYSTEM_BULLMQ,
  noopSpan,
  recordQueueWait,
  recordRateLimited,
  recordToolCall,
  SpanKind,
  SpanStatusCode,
  tracingEnabled,
  withSpan,
  type Span,
} from '@toolplane/telemetry';
import { redactSecrets, sentSecretForms } from './redact.ts';
import { guardValue, jobDebugScrubber, jobGuardrails, type GuardrailDeps } from './guardrails.ts';
import { relayedEvents, resultChain, type RunOutcome } from './result-chain.ts';
import { perRequestCredentials, type RequestCredentialOpener } from './request-credentials.ts';
import { callRemoteTool, RemoteRequestError, RemoteTimeoutError } from './remote-tools.ts';
import { mcpHeaders, relayOf, runMcpRequest, type McpRequestRun } from './external-mcp.ts';
import type { SecretResolver } from './secret-resolver.ts';
import { oauthAppOf, personToken, type ConnectLinks, type PersonAuth } from './connect-links.ts';
import { ConnectionRequiredError, type UserTokenKeeper } from './user-tokens.ts';
import type { WorkspaceAccessReader } from './step-access.ts';
import { checkStep, type ArgumentGuardrailsReader } from './step-checks.ts';
import { stepRunner } from './tool-steps.ts';
import { runWorkflowTool, WorkflowStopped, type WorkflowCall } from './workflow-runner.ts';

/** What the guardrails of a job need of the processor's deps (made once per deps). */
const guardDepsOf = new WeakMap<ProcessorDeps, GuardrailDeps>();
const guardDeps = (deps: ProcessorDeps): GuardrailDeps => {
  let made = guardDepsOf.get(deps);
  if (!made) {
    made = { plans: deps.plans, maxScanBytes: deps.maxScanBytes ?? 1024 * 1024, log: deps.log };
    guardDepsOf.set(deps, made);
  }
  return made;
};

/** A job that ran nothing gives its quota charge back; a failure to is logged (the units stay charged). */
async function giveBack(deps: ProcessorDeps, job: ToolInvokeJob): Promise<void> {
  try {
    await deps.quotaRefunds?.(job.quotaCharge!);
  } catch (err) {
    deps.log.warn({ invocationId: job.invocationId, err: String(err) }, 'a quota charge was not given back');
  }
}

export interface ProcessorDeps {
  plans: PlanCache;
  secrets: SecretResolver;
  rateLimits: RateLimits;
  authorizer: Authorizer;
  limits: HttpLimits;
  log: Logger;
  records: ExecutionRecordSink;
  debug: DebugSessions;
  running: RunningInvocations;
  /** Execution leases: at most once upstream across worker crashes (execution-lease.ts). */
  leases: ExecutionLeases;
  /** A server's settings for calls made for external users (absent: no fallback to shared credentials). */
  identitySettings?: (serverId: string) => Promise<ServerIdentitySettings>;
  /** An external user's declared attributes (`$current_user.<name>` in workflows; absent: none). */
  userAttributes?: (workspaceId: string, userId: string) => Promise<Record<string, string>>;
  /** Opens a caller's sealed `X-Upstream-Authorization` (absent: REQUEST_CREDENTIALS_PRIVATE_KEY_FILE unset, such calls fail). */
  openRequestCredential?: RequestCredentialOpener;
  /** People's OAuth tokens (`oauth2_authorization_code` tools; absent: such calls fail). ADR 0027. */
  userTokens?: UserTokenKeeper;
  /** Connect links for people without a usable connection (absent: they are told so without a link). */
  connectLinks?: ConnectLinks;
  /** Callers' answers to requests external MCP servers send during calls (absent: nothing is relayed). */
  relayReplies?: PublishedReplies;
  /** Gives a job's quota charge back (absent: charges stay; ADR 0048). */
  quotaRefunds?: (charge: NonNullable<ToolInvokeJob['quotaCharge']>) => Promise<void>;
  /** A workspace's published access policies, for workflow steps on hosted servers' tools (absent: they fail). */
  workspaceAccess?: WorkspaceAccessReader;
  /** Charges a workflow step's tool's quotas (step-checks.ts, ADR 0048; absent: a step under a quota is refused). */
  quotaMeter?: QuotaMeter;
  /** A hosted server's guardrails on arguments, for workflow steps on its tools (step-checks.ts, ADR 0050). */
  argumentGuardrails?: ArgumentGuardrailsReader;
  /** Bytes of a result's text above which a guardrail without its own limit blocks it (absent: 1 MiB). */
  maxScanBytes?: number;
  /** Stores a cacheable call's result (`SET key value PX ttlMs`, ADR 0067; absent: nothing is cached). */
  resultCache?: (key: string, value: string, ttlMs: number) => Promise<unknown>;
  now?: () => number;
}

/** Invocations running in this worker, by id, so a caller's cancellation can abort them. */
export class RunningInvocations {
  private readonly running = new Map<string, AbortController>();
  private readonly cancelledEarly = new Set<string>();

  start(id: string): AbortSignal {
    const c = new AbortController();
    if (this.cancelledEarly.delete(id)) c.abort();
    this.running.set(id, c);
    return c.signal;
  }

  end(id: string): void {
    this.running.delete(id);
  }

  cancel(id: string): void {
    const c = this.running.get(id);
    if (c) c.abort();
    else if (this.cancelledEarly.size < 10_000) this.cancelledEarly.add(id); // may still be queued here
  }
}

/** One invocation as the steps below see it: its job, clock and cancellation, and what its record collects. */
interface Invocation {
  job: ToolInvokeJob;
  cancel: AbortSignal;
  now: () => number;
  started: number;
  /** Milliseconds left before the caller's deadline. */
  remaining: number;
  /**
   * This delivery's number: among those that reached the sending point (the execution lease's count), or,
   * for a call safe to send again (which writes no lease), among the queue's deliveries of the job.
   */
  delivery: number;
  /**
   * Writes the execution lease, confirmed by Redis before it resolves: called right before the first request
   * of this delivery leaves. Nothing for a call that is safe to send again (idempotent, or deduplicated by an
   * idempotency key): a re-delivery sends it again whatever a lease says (ADR 0015, "Calls safe to send again").
   */
  markSent: () => Promise<void>;
  /** Whether this server lets a user without their own connection use the shared credentials (read once per call). */
  fallback: () => Promise<boolean>;
  /** Progress and log events to the waiting edge, only when the caller asked for them. */
  emit?: ((event: ToolInvokeEvent['event']) => void) | undefined;
  steps: ExecutionStep[];
  /** Writes the execution record (with `steps`) and observes the outcome. */
  record: (outcome: ExecutionRecord['outcome'], extra?: RecordExtra) => void;
}

type RecordExtra = {
  errorCode?: string;
  message?: string;
  /** What the result's guardrails found (detector, path, action; never a value). */
  guardrails?: ExecutionRecord['guardrails'];
  debug?: ExecutionRecord['debug'];
  tree?: ExecutionTreeNode[] | undefined;
  /** The edge gives the call's charge back (it expired in the queue, an `input_required` round): no `costUnits`. */
  uncharged?: true;
  /** What the tool's shape cut (bytes before and after). */
  shape?: ExecutionRecord['shape'];
};
type McpPlan = Extract<ExecutionPlan, { kind: 'mcp' }>;

const answer = (job: ToolInvokeJob, result: ToolResultPayload): ToolInvokeResult => ({
  v: 1,
  invocationId: job.invocationId,
  ok: true,
  result,
});

/** Runs one `tool.invoke` job. Tool-level failures become `isError` results; only our own faults become `ok: false`. */
export function createToolInvocationProcessor(deps: ProcessorDeps) {
  const now = deps.now ?? Date.now;
  return async function process(
    job: ToolInvokeJob,
    received?: ReceivedJob,
    notify?: (message: unknown) => void,
  ): Promise<ToolInvokeResult> {
    // A call held for an approval waited for its approvers, not for a worker: not a queue wait.
    if (received && !job.approval) recordQueueWait(queueNames.toolInvocations, now() - received.timestamp);
    const cancel = deps.running.start(job.invocationId);
    // Above 1: the worker that had it stopped (or lost its lock) and BullMQ delivered it again.
    const delivered = received?.attemptsStarted ?? 1;
    const emit =
      notify && (job.progress || job.logLevel || job.relay)
        ? (event: ToolInvokeEvent['event']) =>
            notify({ v: 1, invocationId: job.invocationId, event } satisfies ToolInvokeEvent)
        : undefined;
    try {
      // The CONSUMER span continues the edge's enqueue span (the job's traceparent).
      if (tracingEnabled())
        return await withSpan(
          `process ${queueNames.toolInvocations}`,
          consumerAttributes(job),
          (span) => run(deps, { now, job, cancel, delivered, span, emit }),
          { kind: SpanKind.CONSUMER, parent: extractContext(job) },
        );
      return await run(deps, { now, job, cancel, delivered, span: noopSpan, emit });
    } finally {
      deps.running.end(job.invocationId);
    }
  };
}

/** One delivery of a job, as `run` takes it. */
interface RunOptions {
  now: () => number;
  job: ToolInvokeJob;
  cancel: AbortSignal;
  /** The queue's deliveries of this job so far, this one included (BullMQ `attemptsStarted`). */
  delivered: number;
  span: Span;
  emit: Invocation['emit'];
}

/** The invocation's steps: delivery rules, the plan, then the kind of tool; any failure becomes its record and reply. */
async function run(deps: ProcessorDeps, options: RunOptions): Promise<ToolInvokeResult> {
  const { now, job, cancel, delivered, span, emit } = options;
  const started = now();
  const redelivered = delivered > 1;
  const steps: ExecutionStep[] = [];
  const records = recorder(deps, { job, span, started, now, steps });
  const record = records.record;
  try {
    const remaining = job.deadlineAt - started;
    // Deliveries before this one that reached the sending point (only a re-delivered job can have any).
    const sentBefore = redelivered ? await deps.leases.sends(job.invocationId) : 0;
    if (redelivered)
      deps.log.warn({ invocationId: job.invocationId, tool: job.tool, sentBefore }, 'invocation re-delivered');
    const facts = {
      redelivered,
      sentBefore,
      expired: remaining <= 0,
      leaseLapsed: started > job.deadlineAt + deps.leases.graceMs,
    };
    if (remaining <= 0) {
      // A re-delivered call without a lease may be one safe to send again, which writes none: its plan tells.
      const resendable = redelivered && sentBefore === 0 && (await resendableTool(deps, job));
      if (decideDelivery({ ...facts, resendable }) === 'outcome_unknown')
        throw outcomeUnknownError(job.invocationId, 'expired');
      record('rejected', { errorCode: 'tool.timeout', message: 'expired in the queue', uncharged: true });
      if (job.quotaCharge) await giveBack(deps, job);
      return answer(job, errorResult('The call expired in the queue before it could run.'));
    }
    if (job.request)
      return await runRequest(deps, { job: { ...job, request: job.request }, cancel, now, remaining, steps, record });
    const entry = await deps.plans.get(job.serverId, job.catalogVersion, job.tool);
    if (!entry)
      throw new UserError('tool.not_found', `tool "${job.tool}" is not in catalog version ${job.catalogVersion}`);
    const keyHeader = idempotencyKeyHeader(entry.plan);
    const resendable = isResendable(entry.plan);
    if (decideDelivery({ ...facts, resendable }) === 'outcome_unknown')
      throw outcomeUnknownError(job.invocationId, 'not_idempotent');
    // The lease, written and confirmed before the first request of this delivery may leave; none for a call
    // safe to send again, which counts the queue's deliveries instead.
    const delivery = resendable ? delivered : sentBefore + 1;
    let fallbackSetting: Promise<boolean> | undefined;
    const call: Invocation = {
      job,
      cancel,
      now,
      started,
      remaining,
      delivery,
      markSent: resendable ? writeNoLease : () => deps.leases.mark(job.invocationId, delivery, job.deadlineAt, now()),
      fallback: () => (fallbackSetting ??= fallbackToShared(deps, job)),
      emit,
      steps,
      record,
    };
    const plan = entry.plan;
    const ran =
      plan.kind === 'mcp'
        ? await runMcpTool(deps, call, plan)
        : plan.kind === 'workflow'
          ? await runWorkflow(deps, call, plan)
          : await runHttpTool(deps, call, plan, keyHeader);
    // Refused before it ran (a rate limit): answered and recorded already. Otherwise: the one result chain.
    const done = 'v' in ran ? ran : answer(job, await resultChain(guardDeps(deps), call, ran, entry.shape));
    return job.cache ? await cached(deps, job, done, records.clean) : done;
  } catch (err) {
    return failed(deps, job, err, record);
  }
}

/**
 * A job's execution record, sent as soon as it is made. `clean`: the record is a success nothing was found in by any
 * guardrail, the only result of a cacheable call that may be stored (ADR 0067).
 */
function recorder(
  deps: ProcessorDeps,
  {
    job,
    span,
    started,
    now,
    steps,
  }: { job: ToolInvokeJob; span: Span; started: number; now: () => number; steps: ExecutionStep[] },
) {
  const traceIds = currentTraceIds();
  let clean = false;
  const record = (outcome: ExecutionRecord['outcome'], extra: RecordExtra = {}) => {
    const { tree, uncharged, ...rest } = extra;
    const rec: ExecutionRecord = { ...recordBase(job, started, now() - started), outcome, ...rest, steps, ...traceIds };
    if (job.argumentFindings && rest.guardrails) rec.guardrails = [...job.argumentFindings, ...rest.guardrails];
    if (tree) rec.tree = tree; // workflow calls only
    if (uncharged) delete rec.costUnits;
    clean = outcome === 'success' && !uncharged && !rec.guardrails?.length;
    observeOutcome(span, rec);
    deps.records.add(rec);
  };
  return {
    record,
    get clean() {
      return clean;
    },
  };
}

/**
 * A cacheable call's answer (the job's `cache` hint, ADR 0067): a clean success (recorded `success`, no guardrail
 * finding, no error, no `input_required` round, not a task's) is stored as the caller received it, with the credentials
 * epoch the edge read, before it is answered (the next identical call finds it); the result says its TTL and scope
 * (`ttlMs`, `cacheScope`, and `_meta["toolplane/cache"]`). A store that fails is logged: the answer goes as it is.
 */
async function cached(
  deps: ProcessorDeps,
  job: ToolInvokeJob,
  ran: ToolInvokeResult,
  clean: boolean,
): Promise<ToolInvokeResult> {
  const hint = job.cache!;
  if (!ran.ok || !clean || ran.result.isError || ran.result.resultType !== undefined || job.task) return ran;
  const ttlMs = cacheTtl(hint, ran.result);
  if (ttlMs === 0) return ran;
  if (deps.resultCache) {
    const entry = JSON.stringify({ e: hint.epoch, at: (deps.now ?? Date.now)(), t: ttlMs, r: ran.result });
    await deps
      .resultCache(hint.key, entry, ttlMs)
      .catch((err: unknown) => deps.log.warn({ tool: job.tool, err: String(err) }, 'a result was not cached'));
  }
  const cacheScope = hint.scope === 'server' ? ('public' as const) : ('private' as const);
  const meta = { hit: false, ttlMs, cacheScope };
  const result = { ...ran.result, ttlMs, cacheScope, _meta: { ...ran.result._meta, 'toolplane/cache': meta } };
  return { ...ran, result };
}

/** The longest an external server's declared `ttlMs` is honoured: a day, as a configured TTL. */
const MAX_DECLARED_TTL_MS = 86_400_000;

/**
 * How long a result is cached (0: not at all). The tool's configured TTL wins; else (an external MCP tool nobody
 * configured, hint `ttlMs` 0) what the result declares (SEP-2549 `ttlMs` > 0, capped at a day; absent or 0: not
 * cached). A result declared `cacheScope: "private"` is never kept under a shared (`server`) key.
 */
function cacheTtl(hint: NonNullable<ToolInvokeJob['cache']>, result: ToolResultPayload): number {
  const declared = result as { ttlMs?: unknown; cacheScope?: unknown };
  if (hint.scope === 'server' && declared.cacheScope === 'private') return 0;
  if (hint.ttlMs > 0) return hint.ttlMs;
  const ttl = declared.ttlMs;
  return typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0
    ? Math.min(Math.floor(ttl), MAX_DECLARED_TTL_MS)
    : 0;
}

/** A call's failure, logged, recorded and answered: our own faults as `internal error`, the rest as they say. */
function failed(deps: ProcessorDeps, job: ToolInvokeJob, err: unknown, record: Invocation['record']): ToolInvokeResult {
  const e: AppError = toAppError(err);
  const level = e.kind === 'internal' ? 'error' : 'warn';
  deps.log[level](
    { invocationId: job.invocationId, tool: job.tool, code: e.code, err: e.kind === 'internal' ? e : undefined },
    'invocation failed',
  );
  record(e.code === 'tool.outcome_unknown' ? 'unknown' : e.kind === 'user' ? 'rejected' : 'failed', {
    errorCode: e.code,
    message:
      err instanceof ConnectionRequiredError ? err.recordMessage : e.kind === 'internal' ? 'internal error' : e.message,
  });
  return {
    v: 1,
    invocationId: job.invocationId,
    ok: false,
    error: {
      kind: e.kind,
      code: e.code,
      message: e.kind === 'internal' ? 'internal error in the data plane' : e.message,
      ...(err instanceof ConnectionRequiredError && err.connectUrl ? { connectUrl: err.connectUrl } : {}),
    },
  };
}

/** Whether the server lets an external user without a connection of their own use the shared credentials. */
const fallbackToShared = (deps: ProcessorDeps, job: ToolInvokeJob): Promise<boolean> =>
  deps.identitySettings ? deps.identitySettings(job.serverId).then((s) => s.fallbackToShared) : Promise.resolve(false);

/** A request to an attached external MCP server other than a tool call: a read, safe to send again (no lease). */
async function runRequest(deps: ProcessorDeps, run: Omit<McpRequestRun, 'fallback'>): Promise<ToolInvokeResult> {
  const { job } = run;
  const features = await deps.plans.external(job.serverId, job.catalogVersion, job.request.server);
  if (!features)
    throw new UserError(
      'tool.not_found',
      `external MCP server "${job.request.server}" is not in catalog version ${job.catalogVersion}`,
    );
  const fallback = () => fallbackToShared(deps, job);
  const guard = (value: unknown, secretValues: string[]) => guardValue(guardDeps(deps), job, value, secretValues);
  return runMcpRequest(
    { secrets: deps.secrets, timeoutMs: deps.limits.timeoutMs, guard },
    { ...run, fallback },
    features,
  );
}

/**
 * A tool of an external MCP server: proxied with the configured headers (credentials); its progress and log
 * notifications relayed through the call's guardrails and redaction (`relayedEvents`), its result to the chain.
 */
async function runMcpTool(deps: ProcessorDeps, call: Invocation, plan: McpPlan): Promise<RunOutcome> {
  const { job, cancel, emit, now } = call;
  const headers = await mcpHeaders(deps.secrets, job, plan, call.fallback);
  const secretValues = Object.values(headers);
  const relay = relayOf(deps.relayReplies, job, emit, cancel);
  const relayed: NonNullable<RunOutcome['relayed']> = [];
  const relayedEvent = emit
    ? relayedEvents(guardDeps(deps), await jobGuardrails(guardDeps(deps), job), secretValues, relayed)
    : undefined;
  const pass = (event: Parameters<NonNullable<typeof relayedEvent>>[0]) => {
    const out = relayedEvent?.(event);
    if (out) emit?.(out);
  };
  await call.markSent();
  const sentAt = now();
  let result: ToolResultPayload;
  let outcome: ExecutionStep['outcome'] = 'response';
  try {
    result = await callRemoteTool({
      url: plan.url,
      headers,
      tool: plan.remoteTool,
      arguments: job.arguments,
      timeoutMs: Math.min(deps.limits.timeoutMs, call.remaining),
      cancel,
      ...(emit && job.progress ? { onProgress: (p) => pass({ kind: 'progress', ...p }) } : {}),
      ...(emit && job.logLevel ? { logLevel: job.logLevel, onLog: (m) => pass({ kind: 'log', ...m }) } : {}),
      ...(job.multiRound ? { multiRound: job.multiRound } : {}),
      ...(relay ? { relay } : {}),
    });
  } catch (err) {
    const answered = err instanceof RemoteRequestError && !cancel.aborted;
    outcome = cancel.aborted
      ? 'cancelled'
      : err instanceof RemoteTimeoutError
        ? 'timeout'
        : answered
          ? 'response'
          : 'unreachable';
    const why = err instanceof Error ? err.message : String(err);
    result = errorResult(
      outcome === 'timeout'
        ? `The external MCP server "${plan.server}" did not answer in time (${why}).`
        : answered
          ? `The external MCP server "${plan.server}" failed the call: ${why}`
          : `The external MCP server "${plan.server}" could not be reached: ${why}`,
    );
  }
  call.steps.push({
    kind: 'mcp',
    name: plan.remoteTool,
    method: 'tools/call',
    urlTemplate: plan.url,
    url: plan.url,
    outcome,
    durationMs: now() - sentAt,
    attempt: 1,
  });
  return {
    result,
    secretValues,
    ok: !result.isError,
    ...(result.isError
      ? { failure: { errorCode: outcome === 'response' ? 'upstream.tool_error' : `upstream.${outcome}` } }
      : {}),
    ...(result.resultType === 'input_required' ? { uncharged: true as const } : {}),
    ...(relayed.length > 0 ? { relayed } : {}),
  };
}

/** A Flower / Arazzo workflow: every HTTP attempt becomes a step of the record. */
async function runWorkflow(
  deps: ProcessorDeps,
  call: Invocation,
  plan: WorkflowPlan,
): Promise<RunOutcome | ToolInvokeResult> {
  const { job, emit } = call;
  const onStepEnd =
    emit && job.progress
      ? (s: { stepId: string; status: 'ok' | 'error'; completed: number }) =>
          emit({
            kind: 'progress',
            progress: s.completed,
            message: `Step "${s.stepId}" ${s.status === 'ok' ? 'done' : 'failed'} (${s.completed} step${s.completed === 1 ? '' : 's'} run)`,
          })
      : undefined;
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
      callTool: toolSteps(deps, call, plan),
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
  };
}

/**
 * A call past a connector instance's `rate_limits` (a plain call before it sends, or a workflow step: the run
 * stops there): recorded `rate_limited`, answered with when to retry. Nothing more is sent.
 */
function rateLimited(call: Invocation, refusal: RateLimitedError['refusal']): ToolInvokeResult {
  const { job } = call;
  const seconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
  recordRateLimited(job.serverId, job.tool);
  call.record('rejected', { errorCode: 'rate_limited', message: `retry after ${seconds} s` });
  return answer(job, errorResult(rateLimitMessage(refusal)));
}

/** A connector or OpenAPI operation: rate limits, credentials, one request, its result redacted and recorded. */
async function runHttpTool(
  deps: ProcessorDeps,
  call: Invocation,
  plan: HttpOperationPlan,
  keyHeader: string | undefined,
): Promise<RunOutcome | ToolInvokeResult> {
  const { job, now } = call;
  // A user's calls spend that user's budget (their own account upstream).
  const allowed = await deps.rateLimits.take(plan.rateLimits, job.principal.userId);
  if (!allowed.ok) return rateLimited(call, allowed);
  const limits = { ...deps.limits, timeoutMs: Math.min(deps.limits.timeoutMs, call.remaining) };
  const { request, outcome, secretValues } = await exchangeHttp(deps, call, { plan, keyHeader, limits });
  const result = toToolResult(outcome, limits, plan.output);
  const session = await deps.debug.active(job.serverId);
  const scrub = session ? await jobDebugScrubber(guardDeps(deps), job) : undefined;
  deps.log.debug(
    { invocationId: job.invocationId, tool: job.tool, outcome: outcome.kind, ms: now() - call.started },
    'invocation done',
  );
  // The guardrails (the call's own credentials echoed back are theirs to find too), then the redaction: the chain.
  return {
    result,
    secretValues,
    ok: !result.isError,
    ...(result.isError
      ? { failure: { errorCode: outcome.kind === 'response' ? 'upstream.http_error' : `upstream.${outcome.kind}` } }
      : {}),
    ...(session
      ? { debug: { sessionId: session.sessionId, ...deps.debug.exchange(request, outcome, secretValues, scrub) } }
      : {}),
  };
}

/** An HTTP tool's request: its plan, the idempotency key's header (none: no key is added) and the limits it runs in. */
interface HttpExchange {
  plan: HttpOperationPlan;
  keyHeader: string | undefined;
  limits: HttpLimits;
}

/**
 * An HTTP tool's request with its credentials, sent; a person's token the upstream refused (401: it did nothing) is
 * refreshed once and the request sent once more (ADR 0027).
 */
async function exchangeHttp(deps: ProcessorDeps, call: Invocation, exchange: HttpExchange) {
  const { plan, limits } = exchange;
  let credentials = await httpCredentials(deps, call, plan);
  let sent = await sendHttp(deps, call, { ...exchange, credentials, first: true });
  if (credentials.person && sent.outcome.kind === 'response' && sent.outcome.status === 401 && !call.cancel.aborted) {
    credentials = await personCredentials(deps, call, plan, credentials.person.token);
    const left = { ...limits, timeoutMs: Math.max(1, Math.min(limits.timeoutMs, call.job.deadlineAt - call.now())) };
    sent = await sendHttp(deps, call, { ...exchange, credentials, limits: left, first: false });
  }
  return sent;
}

/**
 * A workflow's tool steps (docs/adr/0039), run by the same pieces as a call of each tool: an HTTP tool's credentials
 * (an external user's own, a person's token and its one refresh; never the caller's `X-Upstream-Authorization`, which
 * is for the workflow's own server) and its request; an external MCP tool's headers (an external user's connection on
 * the server offering it). No idempotency key: one call's steps are different requests.
 */
function toolSteps(deps: ProcessorDeps, call: Invocation, plan: WorkflowPlan): WorkflowCall['callTool'] {
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
    checks: (step, args) => checkStep(deps, job, step, args),
  });
}

/** One request of an HTTP tool, as `sendHttp` takes it. */
interface SendHttpOptions extends HttpExchange {
  credentials: HttpCredentials;
  /** The first request of this delivery: the lease is written before it leaves. */
  first: boolean;
}

/** One request of an HTTP tool: built with `credentials`, sent (after the lease when `first`), recorded as a step. */
async function sendHttp(deps: ProcessorDeps, call: Invocation, options: SendHttpOptions) {
  const { plan, keyHeader, limits, first } = options;
  const { credentials, given } = options.credentials;
  const { job, now } = call;
  const request = buildRequest(plan, job.arguments, credentials);
  // The same key on every delivery, so the API can drop a repeat (unless the caller passed one).
  if (keyHeader && request.headers[keyHeader.toLowerCase()] === undefined)
    request.headers[keyHeader.toLowerCase()] = idempotencyKeyFor(job.invocationId);
  // The values, and the forms they took in the bytes of this request (redact.ts).
  const secretValues = [...given, ...sentSecretForms(request, given)];
  const redactedUrl = redactSecrets({ content: [{ type: 'text', text: request.url }] }, secretValues).content[0]!
    .text as string;
  if (first) await call.markSent();
  const sentAt = now();
  const outcome = await sendRequest(request, limits, call.cancel, { urlTemplate: plan.url, url: redactedUrl });
  call.steps.push({
    kind: 'http',
    name: job.tool,
    method: request.method,
    urlTemplate: plan.url,
    url: redactedUrl,
    ...(outcome.kind === 'response' ? { status: outcome.status } : {}),
    outcome: outcome.kind,
    durationMs: now() - sentAt,
    attempt: call.delivery,
  });
  return { request, outcome, secretValues };
}

interface HttpCredentials {
  credentials: Record<string, string | undefined>;
  /** Values to redact from what comes back. */
  given: (string | undefined)[];
  /** A person's OAuth connection (`oauth2_authorization_code`): the token sent, refreshed on a 401. */
  person?: { token: string };
}

/**
 * The credentials of an HTTP tool's request and the secret values to redact: the caller's own for this call
 * (per-request authentication, no stored one is read), an external user's own connection (or, with
 * `fallbackToShared`, the shared credentials as a whole, never mixed), or the server's.
 */
async function httpCredentials(
  deps: ProcessorDeps,
  call: Invocation,
  plan: HttpOperationPlan,
): Promise<HttpCredentials> {
  const { job } = call;
  if (plan.auth?.kind === 'oauth2_authorization_code' && job.upstreamAuthorization === undefined)
    return personCredentials(deps, call, plan);
  const userId = job.principal.userId;
  if (job.upstreamAuthorization !== undefined) {
    const perRequest = perRequestCredentials(
      plan,
      await openUpstreamAuthorization(deps, job.upstreamAuthorization, job),
    );
    return { credentials: perRequest.credentials, given: perRequest.secretValues };
  }
  let credentials: Record<string, string | undefined> = {};
  for (const [field, secretName] of Object.entries(plan.secrets)) {
    const name = userId ? plan.userSecrets?.[field]?.replace('{user}', userId) : secretName;
    // A user's own credentials are read fresh for each call (per-request authentication).
    credentials[field] = name ? await deps.secrets.resolve(name, { fresh: userId !== undefined }) : undefined;
    if (userId && credentials[field] === undefined) {
      if (await call.fallback()) {
        credentials = {};
        for (const [f, shared] of Object.entries(plan.secrets)) credentials[f] = await deps.secrets.resolve(shared);
        break;
      }
      throw new UserError(
        'secret.not_found',
        `User "${job.principal.username}" has no connection for this tool's API. Connect one with PUT /api/v1/external_users/{name}/connections/{connector_instance_id}.`,
      );
    }
  }
  if (plan.auth) credentials.__authorization = await deps.authorizer.authorization(plan.auth, credentials);
  return { credentials, given: Object.values(credentials) };
}

/**
 * `oauth2_authorization_code`: the calling person's own token for this connector instance, from their
 * connection (`personToken`: refreshed when it expires, or when `stale` is the token the upstream just refused;
 * no connection: a `connection.required` error with a connect link). The instance's `client_id`/`client_secret`
 * are the workspace's OAuth app.
 */
async function personCredentials(
  deps: ProcessorDeps,
  call: Invocation,
  plan: HttpOperationPlan,
  stale?: string,
): Promise<HttpCredentials> {
  const auth = plan.auth as PersonAuth;
  if (!auth.connection) throw new Error('a person’s tool compiled without its connection');
  const connection = auth.connection;
  const { token, client } = await personToken(deps, {
    call: call.job,
    auth,
    app: () => oauthAppOf(deps.secrets, plan, auth),
    connection: (userId) => connection.replace('{user}', userId),
    stale,
  });
  return {
    credentials: { __authorization: `Bearer ${token}` },
    given: [token, client.clientSecret],
    person: { token },
  };
}

/** A call safe to send again writes no lease (ADR 0015). */
const writeNoLease = () => Promise.resolve();

/**
 * Whether the job's tool is safe to send again, so that, writing no lease, an earlier delivery may have sent it
 * unseen. A plan that cannot be read counts as such (whether a request left cannot be told); a tool absent
 * from its catalog version was never sent.
 */
async function resendableTool(deps: Pick<ProcessorDeps, 'plans'>, job: ToolInvokeJob): Promise<boolean> {
  if (job.request) return true; // reads: resources, prompts, completions
  try {
    const entry = await deps.plans.get(job.serverId, job.catalogVersion, job.tool);
    return entry !== undefined && isResendable(entry.plan);
  } catch {
    return true;
  }
}

/**
 * The reply and record of a job the queue gave up on without running it (its workers stopped more
 * than `WORKER_MAX_STALLED_COUNT` times): "outcome unknown" when a request may have left (the lease
 * exists or could have expired, or the call writes none), otherwise a failure that sent nothing.
 */
export function createAbandonedJobHandler(deps: Pick<ProcessorDeps, 'leases' | 'plans' | 'records' | 'log' | 'now'>) {
  const now = deps.now ?? Date.now;
  return async function abandoned(job: ToolInvokeJob): Promise<ToolInvokeResult> {
    const started = now();
    const sentBefore = await deps.leases.sends(job.invocationId).catch(() => 1);
    const maybeSent =
      sentBefore > 0 || started > job.deadlineAt + deps.leases.graceMs || (await resendableTool(deps, job));
    const e = maybeSent
      ? outcomeUnknownError(job.invocationId, 'abandoned')
      : new TransientError(
          'queue.unavailable',
          'The call was not run: the workers that took it stopped more than once. Nothing was sent; it may be retried.',
        );
    deps.log.warn({ invocationId: job.invocationId, tool: job.tool, sentBefore }, 'invocation abandoned by the queue');
    recordToolCall(job.serverId, job.tool, maybeSent ? 'unknown' : 'failed', 0);
    deps.records.add({
      ...recordBase(job, started, 0),
      outcome: maybeSent ? 'unknown' : 'failed',
      errorCode: e.code,
      message: e.message,
      steps: [],
    });
    return {
      v: 1,
      invocationId: job.invocationId,
      ok: false,
      error: { kind: e.kind, code: e.code, message: e.message },
    };
  };
}

/** The caller's `X-Upstream-Authorization` of this job, opened. */
function openUpstreamAuthorization(deps: ProcessorDeps, sealed: string, job: ToolInvokeJob): Promise<string> {
  if (!deps.openRequestCredential)
    throw new UserError(
      'auth.upstream_authorization_unavailable',
      'The workers cannot open per-request credentials (no REQUEST_CREDENTIALS_PRIVATE_KEY_FILE): call without the ' +
        'X-Upstream-Authorization header.',
    );
  return deps.openRequestCredential(sealed, job.invocationId);
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

/** What every execution record of `job` says: which call, by whom, when, how long. */
function recordBase(job: ToolInvokeJob, startedAt: number, durationMs: number) {
  return {
    v: 1 as const,
    // A task's invocation id is no UUID: its record gets one derived from it (ADR 0040).
    invocationId: executionRecordId(job.invocationId),
    // A call a `run_code` program made: linked to the program's invocation.
    ...(job.parentInvocationId ? { parentInvocationId: job.parentInvocationId } : {}),
    workspaceId: job.principal.workspaceId,
    serverId: job.serverId,
    catalogVersion: job.catalogVersion,
    tool: job.tool,
    caller: recordCaller(job.principal),
    startedAt: new Date(startedAt).toISOString(),
    durationMs,
    // A tool call that reached the data plane was charged its cost (usage); a job's `request` is no tool call.
    ...(job.request ? {} : { costUnits: job.cost ?? 1 }),
    // What guardrails found in the arguments at the edge (`on: "arguments"`; the result's findings follow them).
    ...(job.argumentFindings ? { guardrails: job.argumentFindings } : {}),
  };
}

function consumerAttributes(job: ToolInvokeJob) {
  return {
    [attr.messagingSystem]: MESSAGING_SYSTEM_BULLMQ,
    [attr.messagingOperationName]: 'process',
    [attr.messagingOperationType]: 'process',
    [attr.messagingDestinationName]: queueNames.toolInvocations,
    [attr.messagingMessageId]: job.invocationId,
    [attr.genAiOperationName]: EXECUTE_TOOL,
    [attr.genAiToolName]: job.tool,
    [attr.serverId]: job.serverId,
    [attr.catalogVersion]: job.catalogVersion,
    [attr.invocationId]: job.invocationId,
    ...(job.principal.keyId ? { [attr.callerKeyId]: job.principal.keyId } : {}),
    ...(job.principal.subject !== undefined && !job.principal.keyId
      ? { [attr.callerSubject]: job.principal.subject }
      : {}),
    ...(job.principal.username ? { [attr.actingUser]: job.principal.username } : {}),
    ...(job.principal.actingVia ? { [attr.actingVia]: job.principal.actingVia } : {}),
  };
}

/** A call's outcome (its record) in the metrics and on its span (ERROR status when it failed; not when refused). */
function observeOutcome(span: Span, record: ExecutionRecord): void {
  const { serverId, tool, outcome, errorCode, durationMs, guardrails } = record;
  recordToolCall(serverId, tool, outcome, durationMs);
  if (span === noopSpan) return;
  span.setAttribute(attr.outcome, outcome);
  if (errorCode !== undefined) span.setAttribute(attr.errorType, errorCode);
  if (guardrails) span.setAttributes(guardrailAttributes(guardrails));
  if (outcome === 'failed' || outcome === 'tool_error' || outcome === 'unknown')
    span.setStatus({ code: SpanStatusCode.ERROR });
}
