import { randomUUID } from 'node:crypto';
import {
  userSecrets,
  type ExecutionRecord,
  type ExecutionStep,
  type ExternalFeatures,
  type GuardrailFinding,
  type ToolInvokeEvent,
  type ToolInvokeJob,
  type ToolInvokeResult,
} from '@toolplane/contracts';
import { TransientError, UserError } from '@toolplane/errors';
import type { PublishedReplies } from '@toolplane/queue';
import { ProtocolError } from '@modelcontextprotocol/client';
import type { GuardedValue } from './guardrails.ts';
import { SESSION_NOT_UPDATED, SessionNotUpdated } from './session-labels.ts';
import { redactSecrets, redactText } from './redact.ts';
import {
  externalHeaders,
  RemoteRequestError,
  RemoteTimeoutError,
  requestRemote,
  type RemoteRelay,
} from './remote-tools.ts';
import type { SecretResolver } from './secret-resolver.ts';

/** Where an external MCP server is and which secrets hold its headers (a tool's plan, or a server's features). */
type ExternalServerRef = Pick<ExternalFeatures, 'server' | 'url' | 'headersSecret' | 'headerSecrets'>;

/** The headers a request to an external MCP server carries: the external user's own when the call is made for one. */
export async function mcpHeaders(
  secrets: SecretResolver,
  job: ToolInvokeJob,
  ref: ExternalServerRef,
  fallback: () => Promise<boolean>,
): Promise<Record<string, string>> {
  if (!job.principal.userId) return externalHeaders(secrets, {}, ref);
  const own = await userExternalHeaders(secrets, job, ref, await fallback());
  return own ?? externalHeaders(secrets, {}, ref);
}

/**
 * The headers of a call to an external MCP server made for an external user: the user's own (stored
 * with PUT /external_users/{name}/mcp_connections/{serverId}/{external}), never the shared ones (undefined
 * when the server's config says `fallbackToShared`: the caller then uses them). A server configured
 * without credentials needs none from the user either.
 */
async function userExternalHeaders(
  secrets: SecretResolver,
  job: ToolInvokeJob,
  ref: ExternalServerRef,
  fallbackToShared: boolean,
): Promise<Record<string, string> | undefined> {
  const { workspaceId, userId, username } = job.principal;
  const external = ref.server;
  const sharedHasCredentials = ref.headersSecret !== undefined || Object.keys(ref.headerSecrets ?? {}).length > 0;
  const raw = await secrets.resolve(userSecrets.externalMcp(workspaceId, userId!, job.serverId, external), {
    fresh: true,
  });
  if (raw !== undefined) return JSON.parse(raw) as Record<string, string>;
  if (!sharedHasCredentials) return {};
  if (fallbackToShared) return undefined;
  throw new UserError(
    'secret.not_found',
    `User "${username}" has no connection for the external MCP server "${external}" ` +
      '(the shared credentials are never used for a user). ' +
      `Connect one with PUT /api/v1/external_users/${username}/mcp_connections/${job.serverId}/${external} ` +
      '{ "headers": { … } }.',
  );
}

/** How long a relayed request waits for the caller's answer (a person may be asked): then the external server gets an error. */
const RELAY_TIMEOUT_MS = 10 * 60_000;

/**
 * A 2025-era caller's sampling and elicitation, for the external server of a call (the job's `relay`): each request it
 * sends goes to the edge as an event, the edge asks the caller on the call's stream, and the caller's answer comes back
 * on the relay channel (`PublishedReplies`). Undefined when the job asks for no relay or nobody listens.
 */
export function relayOf(
  replies: PublishedReplies | undefined,
  job: ToolInvokeJob,
  emit: ((event: ToolInvokeEvent['event']) => void) | undefined,
  cancel: AbortSignal,
): RemoteRelay | undefined {
  if (!job.relay || !emit || !replies) return undefined;
  return {
    capabilities: job.relay,
    async ask(method, params) {
      const relayId = `${job.invocationId}:${randomUUID()}`;
      const answer = replies.wait(
        relayId,
        cancel,
        Math.max(1, Math.min(RELAY_TIMEOUT_MS, job.deadlineAt - Date.now())),
      );
      emit({ kind: 'request', relayId, method, params });
      const reply = await answer;
      if ('error' in reply && reply.error !== undefined) {
        const e = reply.error as { code?: unknown; message?: unknown; data?: unknown };
        throw new ProtocolError(
          typeof e.code === 'number' ? e.code : -32603,
          String(e.message ?? 'the caller refused'),
          e.data,
        );
      }
      return reply.result;
    },
  };
}

/** One request of a job's `request` as the worker runs it: its job, clock and cancellation, and its record. */
export interface McpRequestRun {
  job: ToolInvokeJob & { request: NonNullable<ToolInvokeJob['request']> };
  cancel: AbortSignal;
  now: () => number;
  remaining: number;
  steps: ExecutionStep[];
  fallback: () => Promise<boolean>;
  record: (
    outcome: ExecutionRecord['outcome'],
    extra?: { errorCode?: string; message?: string; guardrails?: ExecutionRecord['guardrails'] },
  ) => void;
}

/**
 * A request to an external MCP server other than a tool call (a resource read, a prompt, a completion), with the
 * headers a tool call of that server would carry. Its answer is relayed as `mcpResult`; the server's JSON-RPC error
 * as `protocolError` (a resource it does not have, invalid arguments); a failure to reach it as a transient error.
 */
/** The JSON-RPC code of an answer a guardrail withheld (a server-defined error, as a refused task's). */
const WITHHELD = -32001;

export async function runMcpRequest(
  deps: {
    secrets: SecretResolver;
    timeoutMs: number;
    /** The answer through its server's guardrails (guardrails.ts `guardValue`). */
    guard?: (value: unknown, secretValues: string[]) => Promise<GuardedValue>;
    /**
     * Writes what the answer brings into the caller's session (a job with `rules.session`: its server's classification
     * and the guardrails' findings on what leaves; ADR 0078) before it leaves. Rejects: nothing leaves.
     */
    bring?: (found: readonly GuardrailFinding[]) => Promise<unknown>;
  },
  run: McpRequestRun,
  features: ExternalServerRef,
): Promise<ToolInvokeResult> {
  const { job, cancel, now } = run;
  const headers = await mcpHeaders(deps.secrets, job, features, run.fallback);
  const sentAt = now();
  const base = { v: 1 as const, invocationId: job.invocationId, ok: true as const };
  const step = (outcome: ExecutionStep['outcome']) =>
    run.steps.push({
      kind: 'mcp',
      name: job.tool,
      method: job.request.method,
      urlTemplate: features.url,
      url: features.url,
      outcome,
      durationMs: now() - sentAt,
      attempt: 1,
    });
  let answer: Awaited<ReturnType<typeof requestRemote>>;
  try {
    const timeoutMs = Math.min(deps.timeoutMs, run.remaining);
    answer = await requestRemote({ url: features.url, headers, job, timeoutMs, cancel });
  } catch (err) {
    return failedRequest(err, { run, features, headers, step, base });
  }
  step('response');
  const guarded = deps.guard ? await deps.guard(answer, Object.values(headers)) : { value: answer, record: {} };
  if ('withheld' in guarded) {
    run.record('tool_error', guarded.record);
    const protocolError = { code: WITHHELD, message: guarded.withheld };
    return { ...base, result: { content: [], protocolError } };
  }
  if (deps.bring)
    try {
      await deps.bring((guarded.record.guardrails ?? []).filter((f) => f.action !== 'block'));
    } catch (err) {
      run.record('failed', { ...guarded.record, errorCode: 'state.unavailable', message: SESSION_NOT_UPDATED });
      throw new SessionNotUpdated(err);
    }
  run.record('success', guarded.record);
  const mcpResult = guarded.value as typeof answer;
  return { ...base, result: redactSecrets({ content: [], mcpResult }, Object.values(headers)) };
}

/** A request the external server did not answer: its JSON-RPC error relayed, or a transient error saying why. */
function failedRequest(
  err: unknown,
  on: {
    run: McpRequestRun;
    features: ExternalServerRef;
    headers: Record<string, string>;
    step: (outcome: ExecutionStep['outcome']) => void;
    base: { v: 1; invocationId: string; ok: true };
  },
): ToolInvokeResult {
  const { run, features, headers, step, base } = on;
  const cause = (err as { cause?: unknown }).cause;
  if (err instanceof RemoteRequestError && cause instanceof ProtocolError && !run.cancel.aborted) {
    step('response');
    run.record('tool_error', { errorCode: 'upstream.protocol_error', message: cause.message });
    const protocolError = {
      code: cause.code,
      message: cause.message,
      ...(cause.data !== undefined ? { data: cause.data } : {}),
    };
    return { ...base, result: redactSecrets({ content: [], protocolError }, Object.values(headers)) };
  }
  const outcome = run.cancel.aborted ? 'cancelled' : err instanceof RemoteTimeoutError ? 'timeout' : 'unreachable';
  step(outcome);
  const why = redactText(err instanceof Error ? err.message : String(err), Object.values(headers));
  // Recorded by the processor, as every failure that leaves a call without a result.
  throw new TransientError(
    outcome === 'timeout' ? 'upstream.timeout' : 'upstream.unreachable',
    `The external MCP server "${features.server}" could not answer ${run.job.request.method}: ${why}`,
  );
}
