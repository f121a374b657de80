import type { ExecutionStep, GuardrailFinding, ToolInvokeResult, ToolResultPayload } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import { errorResult } from './http-operation.ts';
import { guardValue, jobGuardrails } from './guardrails.ts';
import { relayedEvents, type RunOutcome } from './result-chain.ts';
import { callRemoteTool, RemoteRequestError, RemoteTimeoutError } from './remote-tools.ts';
import { mcpHeaders, relayOf, runMcpRequest, type McpRequestRun } from './external-mcp.ts';
import { sessionWriter } from './session-labels.ts';
import { type Invocation, type McpPlan, type ProcessorDeps, fallbackToShared, guardDeps } from './invocation.ts';

/** A tool of an attached external MCP server, and its other requests (resources, prompts, completions). */

/** A request to an attached external MCP server other than a tool call: a read, safe to send again (no lease). */
export async function runRequest(deps: ProcessorDeps, run: Omit<McpRequestRun, 'fallback'>): Promise<ToolInvokeResult> {
  const { job } = run;
  const features = await deps.plans.external(job.serverId, job.catalogVersion, job.request.server);
  if (!features)
    throw new UserError(
      'tool.not_found',
      `external MCP server "${job.request.server}" is not in catalog version ${job.catalogVersion}`,
    );
  const fallback = () => fallbackToShared(deps, job);
  const guard = (value: unknown, secretValues: string[]) => guardValue(guardDeps(deps), job, value, secretValues);
  // A read of a classified server brings its labels into the caller's session (ADR 0078).
  const write = job.rules?.session
    ? sessionWriter(deps.sessions, { job, answered: () => true, now: run.now })
    : undefined;
  const bring = write && ((found: readonly GuardrailFinding[]) => write(found, false));
  return runMcpRequest(
    { secrets: deps.secrets, timeoutMs: deps.limits.timeoutMs, guard, ...(bring ? { bring } : {}) },
    { ...run, fallback },
    features,
  );
}

/**
 * A tool of an external MCP server: proxied with the configured headers (credentials); its progress and log
 * notifications relayed through the call's guardrails and redaction (`relayedEvents`), its result to the chain.
 */
export async function runMcpTool(deps: ProcessorDeps, call: Invocation, plan: McpPlan): Promise<RunOutcome> {
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
