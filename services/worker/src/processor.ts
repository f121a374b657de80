import {
  queueNames,
  type ExecutionRecord,
  type ExecutionStep,
  type ToolInvokeEvent,
  type CallRules,
  type ToolInvokeJob,
  type ToolInvokeResult,
  type ToolResultPayload,
} from '@toolplane/contracts';
import { toAppError, UserError, type AppError } from '@toolplane/errors';
import {
  decideDelivery,
  idempotencyKeyHeader,
  isResendable,
  outcomeUnknownError,
  type DeliveryFacts,
} from './execution-lease.ts';
import { errorResult } from './http-operation.ts';
import type { ReceivedJob } from '@toolplane/queue';
import {
  attr,
  currentTraceIds,
  EXECUTE_TOOL,
  guardrailAttributes,
  extractContext,
  MESSAGING_SYSTEM_BULLMQ,
  noopSpan,
  recordQueueWait,
  recordToolCall,
  SpanKind,
  SpanStatusCode,
  tracingEnabled,
  withSpan,
  type Span,
} from '@toolplane/telemetry';
import { callReceipt, withReceipt, type IssuedReceipt } from './call-receipts.ts';
import { resultChain } from './result-chain.ts';
import { SessionNotUpdated, sessionWriter } from './session-labels.ts';
import { ConnectionRequiredError } from './user-tokens.ts';
import {
  type Invocation,
  type ProcessorDeps,
  type RecordExtra,
  answer,
  fallbackToShared,
  giveBack,
  guardDeps,
  recordBase,
  resendableTool,
  writeNoLease,
} from './invocation.ts';
import { runMcpTool, runRequest } from './tool-mcp.ts';
import { runWorkflow } from './tool-workflow.ts';
import { runHttpTool } from './tool-http.ts';
import { runTwin } from './twin/answer.ts';
import { isTwinJob, keepForTwin, twinRequest } from './twin/job.ts';
import { withoutUpstream } from './twin/no-upstream.ts';

/** Runs one `tool.invoke` job. Tool-level failures become `isError` results; only our own faults become `ok: false`. */
export function createToolInvocationProcessor(deps: ProcessorDeps) {
  const now = deps.now ?? Date.now;
  return async function process(
    job: ToolInvokeJob,
    received?: ReceivedJob,
    notify?: (message: unknown) => void,
  ): Promise<ToolInvokeResult> {
    // A call held for an approval waited for its approvers, not for a worker: not a queue wait.
    if (received && !job.rules?.approval) recordQueueWait(queueNames.toolInvocations, now() - received.timestamp);
    // A call holding a slot of a quota on calls in flight runs to the upstream's answer once started.
    const cancel = deps.running.start(job.invocationId, { holdsSlot: (job.rules?.quota?.inFlight?.length ?? 0) > 0 });
    // Above 1: the worker that had it stopped (or lost its lock) and BullMQ delivered it again.
    const delivered = received?.attemptsStarted ?? 1;
    const emit =
      notify && (job.progress || job.logLevel || job.relay)
        ? (event: ToolInvokeEvent['event']) =>
            notify({ v: 1, invocationId: job.invocationId, event } satisfies ToolInvokeEvent)
        : undefined;
    // The CONSUMER span continues the edge's enqueue span (the job's traceparent).
    const go = () =>
      tracingEnabled()
        ? withSpan(
            `process ${queueNames.toolInvocations}`,
            consumerAttributes(job),
            (span) => run(deps, { now, job, cancel, delivered, span, emit }),
            { kind: SpanKind.CONSUMER, parent: extractContext(job) },
          )
        : run(deps, { now, job, cancel, delivered, span: noopSpan, emit });
    try {
      // A twin job runs where no upstream connection can be opened (ADR 0112).
      return await (isTwinJob(job) ? withoutUpstream(go) : go());
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
    if (remaining <= 0) return await expiredInQueue(deps, job, facts, record);
    if (job.request && isTwinJob(job)) return twinRequest(job, record);
    if (job.request)
      return await runRequest(deps, { job: { ...job, request: job.request }, cancel, now, remaining, steps, record });
    const entry = await deps.plans.get(job.serverId, job.catalogVersion, job.tool);
    if (!entry)
      throw new UserError('tool.not_found', `tool "${job.tool}" is not in catalog version ${job.catalogVersion}`);
    const twin = isTwinJob(job);
    // A twin job sends nothing: safe to run again, no idempotency key (ADR 0112).
    const keyHeader = twin ? undefined : idempotencyKeyHeader(entry.plan);
    const resendable = twin || isResendable(entry.plan);
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
    const ran = twin
      ? await runTwin(deps, call, entry)
      : plan.kind === 'mcp'
        ? await runMcpTool(deps, call, plan)
        : plan.kind === 'workflow'
          ? await runWorkflow(deps, call, plan)
          : await runHttpTool(deps, call, plan, keyHeader);
    // Refused before it ran (a rate limit): answered and recorded already. Otherwise: the one result chain, which
    // writes what the result brings into the caller's session first, if the call keeps one (ADR 0078).
    const chain = job.rules?.session ? { job, record, bring: sessionWriter(deps.sessions, sessionCall(call)) } : call;
    const done = 'v' in ran ? ran : answer(job, await resultChain(guardDeps(deps), chain, ran, entry.shape));
    if (job.twin === 'record' && done.ok) keepForTwin(deps, job, done.result);
    // A twin answer is never cached for production (ADR 0112). The receipt goes after the cache's store: a cached
    // answer is another call's, which has a receipt of its own.
    return withReceipt(
      job.rules?.cache && !twin ? await cached(deps, job, done, records.clean) : done,
      records.receipt,
    );
  } catch (err) {
    // A session not updated recorded the call's failure itself (with the result's findings).
    return failed(deps, job, err, err instanceof SessionNotUpdated ? recordedAlready : record);
  }
}

const recordedAlready = () => undefined;

/**
 * A job whose deadline passed while it waited: refused and recorded, its quota charge given back; or, re-delivered
 * after a delivery that may have sent it, its outcome unknown.
 */
async function expiredInQueue(
  deps: ProcessorDeps,
  job: ToolInvokeJob,
  facts: Omit<DeliveryFacts, 'resendable'>,
  record: Invocation['record'],
): Promise<ToolInvokeResult> {
  // A re-delivered call without a lease may be one safe to send again, which writes none: its plan tells.
  const resendable = facts.redelivered && facts.sentBefore === 0 && (await resendableTool(deps, job));
  if (decideDelivery({ ...facts, resendable }) === 'outcome_unknown')
    throw outcomeUnknownError(job.invocationId, 'expired');
  record('rejected', { errorCode: 'tool.timeout', message: 'expired in the queue', uncharged: true });
  if (job.rules?.quota) await giveBack(deps, job);
  return answer(job, errorResult('The call expired in the queue before it could run.'));
}

/** The call as the session write sees it: an upstream answered when a step of its record has a response. */
const sessionCall = (call: Invocation) => ({
  job: call.job,
  now: call.now,
  answered: () => call.steps.some((s) => s.outcome === 'response'),
});

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
  let issued: IssuedReceipt | undefined;
  const record = (outcome: ExecutionRecord['outcome'], extra: RecordExtra = {}, result?: ToolResultPayload) => {
    const { tree, uncharged, ...rest } = extra;
    // The base object takes the rest in place (the spread's key order, one object fewer per call).
    const rec = recordBase(job, started, now() - started) as ExecutionRecord;
    rec.outcome = outcome;
    Object.assign(rec, rest);
    rec.steps = steps;
    Object.assign(rec, traceIds);
    const argumentFindings = job.rules?.guardrails?.arguments;
    if (argumentFindings && rest.guardrails) rec.guardrails = [...argumentFindings, ...rest.guardrails];
    if (tree) rec.tree = tree; // workflow calls only
    if (uncharged) delete rec.costUnits;
    const sealed = deps.sealArguments?.(job, rec.invocationId);
    if (sealed) rec.sealedArguments = sealed;
    // The call's receipt, signed here from what the record and the job say (ADR 0111): no round trip added.
    if (deps.receipts && !job.request)
      rec.receipt = issued = callReceipt(deps.receipts, job, rec, { issuedAt: now(), result });
    clean = outcome === 'success' && !uncharged && !rec.guardrails?.length;
    observeOutcome(span, rec);
    deps.records.add(rec);
  };
  return {
    record,
    get clean() {
      return clean;
    },
    /** The receipt of the record last written (none without a signing key). */
    get receipt() {
      return issued;
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
  const hint = job.rules!.cache!;
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
function cacheTtl(hint: NonNullable<CallRules['cache']>, result: ToolResultPayload): number {
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
