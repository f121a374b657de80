import { randomUUID } from 'node:crypto';
import { queueNames, type ToolInvokeJob, type ToolOutcome, type ToolResultPayload } from '@toolplane/contracts';
import { AppError, toAppError } from '@toolplane/errors';
import { inputRequired, UrlElicitationRequiredError } from '@modelcontextprotocol/server';
import {
  attr,
  endSpan,
  MESSAGING_SYSTEM_BULLMQ,
  noopSpan,
  SpanKind,
  startSpan,
  traceparentOf,
  type Span,
  tracingEnabled,
} from '@toolplane/telemetry';
import type { ToolCall, ToolCallDeps } from '../calls/call-types.ts';
import type { UrlElicitationMode } from '../protocol/protocol-state.ts';
import { errorResult } from './refusal.ts';
import { finishAll, type CallState, type Settle } from './stage.ts';

/**
 * The last step of a call every stage let go on: its job (references only, the caller's own upstream credential
 * sealed, a key for each capability the stages filled in) is queued and its result awaited; the stages hear when it
 * was queued and when the call is over, and mark the result that leaves.
 */
export async function enqueueJob(s: CallState, settles: readonly Settle[]): Promise<ToolOutcome> {
  const { deps, call, tool, invocationId } = s;
  let added: boolean | undefined;
  let outcome: ToolOutcome | undefined;
  const queued = settles.some((x) => x.queued) ? settles : undefined;
  const onQueued = (ok: boolean) => {
    added = ok;
    if (queued) for (const x of queued) void x.queued?.(ok);
  };
  // Whether the job reached the queue's client, which then says whether it was added; before that, nothing was.
  let handedOver = false;
  try {
    const job = await jobOf(s, Date.now() + deps.timeoutMs);
    // The enqueue is a PRODUCER span (messaging conventions); its traceparent travels in the job, so the
    // worker's CONSUMER span is its child. While tracing is off: no span, no traceparent.
    const producer = tracingEnabled() ? startProducerSpan(invocationId, tool.def.name) : noopSpan;
    job.traceparent = traceparentOf(producer);
    const tracked = producer !== noopSpan || settles.length > 0;
    handedOver = true;
    const result = await deps.invocations.invoke(
      job,
      call.signal,
      tracked ? enqueued(producer, onQueued) : undefined,
      call.live?.onEvent,
    );
    if (result.ok) return (outcome = settles.length > 0 ? await finishAll(settles, result.result) : result.result);
    if (result.error.connectUrl && call.urlElicitation) {
      const who = { tool: call.name, person: call.principal.username };
      const asked = await connectElicitation(call.urlElicitation, who, result.error.connectUrl);
      return (outcome = asked ?? errorResult(result.error.message));
    }
    return (outcome = errorResult(result.error.message));
  } catch (err) {
    // The job could not even be made (the caller's credential not sealed): no job runs, the stages hear so.
    if (!handedOver) onQueued(false);
    return failedCall(deps, { tool: call.name, invocationId, aborted: call.signal?.aborted === true }, err);
  } finally {
    for (const x of settles) void x.ended?.({ added, outcome });
  }
}

/** The job of a call that passed every stage: references only, the caller's own upstream credential sealed. */
export async function jobOf(s: CallState, deadlineAt: number): Promise<ToolInvokeJob> {
  const { deps, call, tool, invocationId } = s;
  const { loaded, principal, arguments: input, live, request } = call;
  // Per-request authentication: the caller's own upstream credential, sealed for the workers (never in clear in Redis).
  const upstream = request.upstreamAuthorization;
  const upstreamAuthorization =
    upstream !== undefined && tool.rules.upstreamCredential
      ? await deps.sealUpstreamCredential!(upstream, invocationId)
      : undefined;
  // Workflow tools only: Config-* headers, and the OAuth token when the server opted in (never logged).
  const config = tool.workflow ? request.config : undefined;
  const callerToken = tool.workflow?.callerToken ? request.accessToken : undefined;
  return {
    v: 2,
    invocationId,
    ...(call.parentInvocationId ? { parentInvocationId: call.parentInvocationId } : {}),
    serverId: loaded.catalog.serverId,
    catalogVersion: loaded.catalog.version,
    tool: tool.def.name,
    arguments: input,
    principal,
    deadlineAt,
    replyTo: deps.invocations.edgeId,
    ...(live?.progress ? { progress: true } : {}),
    ...(live?.logLevel ? { logLevel: live.logLevel } : {}),
    ...(config ? { config } : {}),
    ...(callerToken ? { callerToken } : {}),
    // The caller, for the worker's access decisions: a workflow's steps on hosted servers' tools (ADR 0045), and a
    // task's call decided again when its job starts.
    ...((tool.workflow?.hostedSteps || call.task) && call.stepCaller ? { stepCaller: call.stepCaller() } : {}),
    ...(tool.workflow?.hostedSteps ? callerStandingOf(call) : {}),
    ...(upstreamAuthorization ? { upstreamAuthorization } : {}),
    ...(call.multiRound ? { multiRound: call.multiRound } : {}),
    ...(call.relay ? { relay: call.relay } : {}),
    ...(s.read ? { request: s.read } : { serializedResult: true as const }),
    ...(call.task ? { task: { id: call.task.id } } : {}),
    // The staging twin (ADR 0112): the worker answers a twin caller's call; keeps a recording server's results.
    ...(principal.twin
      ? { twin: 'answer' as const }
      : loaded.catalog.twin === 'recording'
        ? { twin: 'record' as const }
        : {}),
    ...(Object.keys(s.rules).length > 0 ? { rules: s.rules } : {}),
  };
}

/** When the job was added, or could not be: the producer span ends, and `onQueued` learns which. */
function enqueued(producer: Span, onQueued: (added: boolean) => void) {
  return (err?: unknown) => {
    if (producer !== noopSpan) endSpan(producer, err);
    onQueued(err === undefined);
  };
}

/** A call that got no result (timed out, cancelled, Redis or the queue failing): its `isError` result. */
export function failedCall(
  deps: ToolCallDeps,
  what: { tool: string; invocationId: string; aborted: boolean },
  err: unknown,
): ToolResultPayload {
  const e: AppError = toAppError(err);
  const { tool, invocationId } = what;
  deps.log.warn({ invocationId, tool, code: e.code }, 'tool call failed');
  // No answer by the deadline: the call may have run (or still be running) upstream.
  if (e.code === 'tool.timeout' && !what.aborted)
    return errorResult(
      `No answer within the call timeout (${deps.timeoutMs} ms): the outcome of invocation ${invocationId} ` +
        'is unknown; its request may have reached the API. Check the API before retrying.',
    );
  return errorResult(e.kind === 'internal' ? 'The tool failed because of an internal error.' : e.message);
}

/**
 * A person's connect link as MCP URL-mode elicitation, for a caller that declared it: the 2025-11-25
 * URL-elicitation-required error (-32042, `data.elicitations`), or on 2026-07-28 an `input_required` result whose
 * retry runs the call again (nothing is kept between the rounds). Undefined for other callers, or when the lookup
 * fails: they get the tool error carrying the link. The MCP layer sends either as it is (`protocolError`,
 * `resultType`).
 */
async function connectElicitation(
  asker: () => Promise<UrlElicitationMode | undefined>,
  who: { tool: string; person: string | undefined },
  url: string,
): Promise<ToolResultPayload | undefined> {
  const mode = await asker().catch(() => undefined);
  if (!mode) return undefined;
  const message =
    `"${who.tool}" acts on ${who.person ?? 'a person'}'s own account at its API: open this link to ` +
    'connect it (it works once, for 10 minutes), then call the tool again.';
  if (mode === 'input_required') {
    const { inputRequests } = inputRequired({ inputRequests: { connect: inputRequired.elicitUrl({ url, message }) } });
    return { content: [], resultType: 'input_required', ...(inputRequests ? { inputRequests } : {}) };
  }
  const e = new UrlElicitationRequiredError([{ mode: 'url', elicitationId: randomUUID(), url, message }], message);
  return { content: [], protocolError: { code: e.code, message: e.message, data: e.data } };
}

function startProducerSpan(invocationId: string, tool: string) {
  return startSpan(
    `send ${queueNames.toolInvocations}`,
    {
      [attr.messagingSystem]: MESSAGING_SYSTEM_BULLMQ,
      [attr.messagingOperationName]: 'send',
      [attr.messagingOperationType]: 'send',
      [attr.messagingDestinationName]: queueNames.toolInvocations,
      [attr.messagingMessageId]: invocationId,
      [attr.invocationId]: invocationId,
      [attr.genAiToolName]: tool,
    },
    { kind: SpanKind.PRODUCER },
  );
}

/** What the caller authenticated with, for the worker to judge again before each hosted step (none: anonymous). */
function callerStandingOf(call: ToolCall): Pick<ToolInvokeJob, 'callerStanding'> {
  const { credential } = call;
  const { delegation } = call.facts;
  if (!credential || credential.kind === 'anonymous') return {};
  return {
    callerStanding: {
      ...(credential.kind === 'key' ? { keyHash: credential.keyHash } : {}),
      ...(delegation ? { tokenChain: [...delegation.token.chain] } : {}),
      ...(credential.expiresAt !== undefined ? { expiresAt: credential.expiresAt } : {}),
    },
  };
}
