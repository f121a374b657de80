import type { HttpOperationPlan, ToolResultPayload, ToolStepPlan, WorkflowPlan } from '@toolplane/contracts';
import { HttpTransportError, type ToolRequest, type ToolResponse } from '@toolplane/workflow';
import {
  errorResult,
  type HttpLimits,
  toToolResult,
  transportFailure,
  type UpstreamOutcome,
  type UpstreamRequest,
} from './http-operation.ts';
import { RateLimitedError, type RateLimits } from './rate-limits.ts';
import { redactSecrets } from './redact.ts';
import type { StepChecked } from './step-checks.ts';
import { callRemoteTool, RemoteRequestError, RemoteTimeoutError } from './remote-tools.ts';
import type { WorkflowCall } from './workflow-runner.ts';

/**
 * A workflow's tool steps (docs/adr/0039-any-tool-as-a-workflow-step.md): the step's tool runs from the plan compiled
 * into the workflow's (`WorkflowPlan.tools`), through the pieces a call of that tool uses (`StepPieces`, bound by
 * processor.ts to the call): an HTTP operation spends its connector's rate limits (the calling user's budget), sends
 * its credentials (an external user's own, a person's token) and is answered as its tool would be; an external MCP
 * tool is called with its server's headers (an external user's own connection). What comes back is the step's
 * `$statusCode` and `$response.body`; every credential value is handed to the run (`onSecret`) to be scrubbed from
 * its result, record and tree.
 */

type McpPlan = Extract<ToolStepPlan['plan'], { kind: 'mcp' }>;

/** What processor.ts lends the steps of one call. */
export interface StepPieces {
  /** The calling external user (whose budget of each connector's rate limits the steps spend). */
  userId: string | undefined;
  rateLimits: Pick<RateLimits, 'take'>;
  cancel: AbortSignal;
  /** An HTTP tool's request with its credentials, sent (`markSent` before it leaves); its secret values. */
  http(
    plan: HttpOperationPlan,
    args: Record<string, unknown>,
    limits: HttpLimits,
    markSent: () => Promise<void>,
  ): Promise<{ request: UpstreamRequest; outcome: UpstreamOutcome; secretValues: (string | undefined)[] }>;
  /** An external MCP server's headers for this call (`serverId`: the hosted server offering the tool, if not this one). */
  mcpHeaders(plan: McpPlan, serverId: string | undefined): Promise<Record<string, string>>;
  /**
   * The checks a direct call of the step's tool passes (step-checks.ts: its guardrails on arguments, the caller's
   * grants and conditions, its quotas): why the step may not run, or the arguments to send and what ends with it.
   */
  checks(step: ToolStepPlan, args: Record<string, unknown>): Promise<StepChecked>;
}

type Run = Parameters<NonNullable<WorkflowCall['callTool']>>[1];

const utf8 = new TextDecoder();

const redactText = (text: string, values: readonly string[]): string =>
  redactSecrets({ content: [{ type: 'text', text }] }, values).content[0]!.text as string;

/** JSON text as its value; anything else as the text. */
function parsed(text: string): unknown {
  if (!/^\s*[[{"]/.test(text)) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A connector's operation: its rate limits first (past them the run stops, as a plain call is refused), then its request. */
async function httpStep(
  plan: HttpOperationPlan,
  req: ToolRequest,
  run: Run,
  pieces: StepPieces,
): Promise<ToolResponse> {
  const allowed = await pieces.rateLimits.take(plan.rateLimits, pieces.userId);
  if (!allowed.ok) throw new RateLimitedError(allowed);
  const limits: HttpLimits = { timeoutMs: req.timeoutMs, maxResponseBytes: req.maxResponseBytes };
  const { request, outcome, secretValues } = await pieces.http(plan, req.arguments, limits, run.markSent);
  const values = secretValues.filter((v): v is string => typeof v === 'string' && v !== '');
  for (const v of values) run.onSecret(v);
  if (outcome.kind !== 'response') transportFailure(outcome, limits);
  const text = redactText(utf8.decode(outcome.body), values);
  const failed = outcome.status >= 400;
  return {
    status: outcome.status,
    body: parsed(text),
    ...(failed
      ? { errorText: redactText(String(toToolResult(outcome, limits, plan.output).content[0]?.text ?? ''), values) }
      : {}),
    method: request.method,
    url: redactText(request.url, values),
    kind: 'http',
    size: outcome.body.byteLength,
  };
}

/** An external MCP server's tool: `tools/call` with its headers; an error result is the step's failure (502). */
async function mcpStep(step: ToolStepPlan, req: ToolRequest, run: Run, pieces: StepPieces): Promise<ToolResponse> {
  const plan = step.plan as McpPlan;
  const headers = await pieces.mcpHeaders(plan, step.serverId);
  const values = Object.values(headers).filter((v) => v !== '');
  for (const v of values) run.onSecret(v);
  await run.markSent();
  let result: ToolResultPayload;
  try {
    result = await callRemoteTool({
      url: plan.url,
      headers,
      tool: plan.remoteTool,
      arguments: req.arguments,
      timeoutMs: req.timeoutMs,
      cancel: pieces.cancel,
    });
  } catch (err) {
    const why = redactText(err instanceof Error ? err.message : String(err), values);
    if (pieces.cancel.aborted) throw new HttpTransportError('cancelled', 'the call was cancelled by its caller');
    if (err instanceof RemoteTimeoutError)
      throw new HttpTransportError(
        'timeout',
        `the external MCP server "${plan.server}" did not answer in time (${why})`,
      );
    if (!(err instanceof RemoteRequestError))
      throw new HttpTransportError(
        'unreachable',
        `the external MCP server "${plan.server}" could not be reached: ${why}`,
      );
    result = errorResult(`the external MCP server "${plan.server}" failed the call: ${why}`);
  }
  result = redactSecrets(result, values);
  const text = result.content.map((c) => (c.type === 'text' && typeof c.text === 'string' ? c.text : '')).join('\n');
  return {
    status: result.isError ? 502 : 200,
    body: result.structuredContent ?? parsed(text),
    ...(result.isError ? { errorText: text } : {}),
    method: 'tools/call',
    url: plan.url,
    kind: 'mcp',
    size: Buffer.byteLength(text),
  };
}

/** The engine's `tool` dependency for one call of a workflow whose plan is `plan`. */
export function stepRunner(
  plan: Pick<WorkflowPlan, 'tools'>,
  pieces: StepPieces,
): NonNullable<WorkflowCall['callTool']> {
  return async (req, run) => {
    const step = plan.tools && Object.hasOwn(plan.tools, req.ref) ? plan.tools[req.ref] : undefined;
    if (!step)
      throw new HttpTransportError(
        'blocked',
        `the tool "${req.tool}" (${req.ref}) is not in this catalog: deploy the workflow again`,
      );
    // The step is a call of its tool: refused as a plain call of it would be, before anything is sent (ADR 0045).
    const checked = await pieces.checks(step, req.arguments);
    if ('refused' in checked)
      throw new HttpTransportError('blocked', `${checked.refused} Nothing of this step was sent.`);
    const sent = { ...req, arguments: checked.args };
    try {
      const response = await (step.plan.kind === 'mcp'
        ? mcpStep(step, sent, run, pieces)
        : httpStep(step.plan, sent, run, pieces));
      // Its tool answered: what that brings is in the caller's session before the run goes on (ADR 0078).
      if (checked.brought)
        await checked.brought().catch(() => {
          throw new HttpTransportError(
            'blocked',
            `the caller's session could not be updated with what the step's tool "${step.name}" brought ` +
              '(Redis unavailable): its result was not used.',
          );
        });
      return response;
    } finally {
      await checked.done();
    }
  };
}
