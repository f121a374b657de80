import type {
  DebugExchange,
  ExecutionStep,
  ExecutionTreeNode,
  ToolResultPayload,
  WorkflowPlan,
} from '@toolplane/contracts';
import {
  HttpTransportError,
  runWorkflow,
  type EngineDeps,
  type ToolRequest,
  type ToolResponse,
  type TraceEntry,
  type WorkflowDocumentIR,
  type WorkflowRunResult,
} from '@toolplane/workflow';
import {
  attr,
  contextWith,
  runInSpan,
  SpanStatusCode,
  startSpan,
  tracingEnabled,
  type Span,
} from '@toolplane/telemetry';
import {
  errorResult,
  sendRequest,
  transportFailure,
  type HttpLimits,
  type UpstreamOutcome,
  type UpstreamRequest,
} from './http-operation.ts';
import type { Authorizer } from './auth.ts';
import { RateLimitedError, type RateLimits } from './rate-limits.ts';
import { redactSecrets, sentSecretForms } from './redact.ts';
import type { SecretResolver } from './secret-resolver.ts';
import {
  connectorCredentials,
  type ConnectorUser,
  type PersonTokenSource,
  withCredentials,
} from './workflow-credentials.ts';

/**
 * Runs a workflow tool (Flower / Arazzo) with the one engine of @toolplane/workflow: HTTP through the
 * worker's upstream client (`sendRequest`: timeouts, size cap, tracing, outbound guard), secrets
 * through the SecretResolver (names from the plan, values never leave the worker), the system clock.
 */

export interface WorkflowRunnerDeps {
  secrets: SecretResolver;
  limits: HttpLimits;
  /** Computed credentials (basic, bearer, OAuth2 client credentials) of steps calling a connector's operations. */
  authorizer?: Authorizer;
  /** Step executions per run (goto / retry loops end here). */
  maxSteps?: number;
  /** The connector instances' `rate_limits` (steps calling their operations spend them as plain calls do). */
  rateLimits?: Pick<RateLimits, 'take'>;
}

export interface WorkflowCall {
  arguments: Record<string, unknown>;
  /** Time left before the job's deadline: the run's total budget. */
  remainingMs: number;
  cancel?: AbortSignal;
  /** The caller's `Config-*` values as the job carries them (names without the prefix), when the edge forwards them. */
  config?: Record<string, string>;
  currentUserToken?: string;
  /** The external user the call runs for (`$current_user.name`), verified by the edge. */
  currentUser?: Readonly<Record<string, string>>;
  /**
   * Where `$secrets.NAME` is read when the plan's own name (the server's secret) has no value: the
   * workspace's secret of that name. Absent for a name (an external user's own secret): no second place.
   */
  workspaceSecretNames?: Readonly<Record<string, string>>;
  /** The external user whose own connections the steps calling a connector's operations use. */
  connectorUser?: ConnectorUser;
  /** The calling external user's id, whose own budget of each instance's `rate_limits` the steps spend. */
  rateLimitUser?: string;
  /** The calling person's token, for steps on an operation of their own account (`oauth2_authorization_code`). */
  personToken?: PersonTokenSource;
  /**
   * Awaited once, before the first HTTP attempt leaves (the execution lease); when it fails the attempt
   * fails as unreachable and nothing is sent.
   */
  beforeFirstRequest?: () => Promise<void>;
  /**
   * Runs a tool step's tool (docs/adr/0039) as a call of that tool: `markSent` before anything leaves (the execution
   * lease, once per run, shared with the HTTP steps), `onSecret` for every credential value it put on the wire (the
   * run's result, record and tree are scrubbed of them). Absent: a tool step fails with `request_invalid`.
   */
  callTool?: (
    request: ToolRequest,
    run: { markSent: () => Promise<void>; onSecret: (value: string) => void },
  ) => Promise<ToolResponse>;
  /** Called when a step run ends (MCP progress for callers that asked for it). */
  onStepEnd?: (step: { workflowId: string; stepId: string; status: 'ok' | 'error'; completed: number }) => void;
  /**
   * Only while a debug session is open: turns one HTTP attempt into a redacted, size-capped capture
   * (`sensitive`: the call's secret values, `Config-*` values and token). Absent: no bodies are kept.
   */
  captureExchange?: (request: UpstreamRequest, outcome: UpstreamOutcome, sensitive: string[]) => DebugExchange;
}

/** A debug capture of one HTTP attempt of a workflow call (`name` = `<workflow>/<step>`, as in the record's steps). */
type DebugStep = DebugExchange & { name: string; attempt: number };

export interface WorkflowCallOutcome {
  result: ToolResultPayload;
  steps: ExecutionStep[];
  /** The run as a tree (`flow.run` → `step.run` → `action.run`), secrets and per-caller values redacted: for the execution record. */
  tree: ExecutionTreeNode[];
  ok: boolean;
  errorCode?: string;
  message?: string;
  /** With `captureExchange`: one capture per HTTP attempt, in order. */
  debugSteps?: DebugStep[];
  /**
   * Every value redacted from the result (secrets, their forms as sent, per-caller values), to redact again after its
   * shape: a function, so that the outcome itself never holds them as data.
   */
  secretValues: () => string[];
}

const utf8 = new TextDecoder();

/** Engine trace attributes copied onto spans (ids, counts, codes: never URLs or messages). */
const spanAttributes = [
  'outcome',
  'action',
  'attempt',
  'attempts',
  'retries',
  'kind',
  'target',
  'status',
  'code',
  'steps',
];

/**
 * The engine's live trace as OpenTelemetry spans: `flow.run <workflow>` → `step.run <step>` →
 * `action.run <step>`, under the job's span; `inAction` runs an HTTP request inside the open action
 * span, so its CLIENT span (and the upstream's `traceparent`) nest under it. Steps run one at a time.
 */
function workflowSpans() {
  const open = new Map<number, Span>();
  let action: Span | undefined;
  const listener: NonNullable<EngineDeps['trace']> = {
    start(e) {
      const parent = e.parentId !== undefined ? open.get(e.parentId) : undefined;
      const span = startSpan(
        `${e.name} ${e.name === 'flow.run' ? e.workflowId : (e.stepId ?? '')}`,
        {
          [attr.workflowId]: e.workflowId,
          ...(e.stepId !== undefined ? { [attr.workflowStep]: e.stepId } : {}),
        },
        parent ? { parent: contextWith(parent) } : undefined,
      );
      open.set(e.id, span);
      if (e.name === 'action.run') action = span;
    },
    end(e) {
      const span = open.get(e.id);
      if (!span) return;
      open.delete(e.id);
      for (const key of spanAttributes) {
        const v = e.attributes[key];
        if (v !== undefined) span.setAttribute(`toolplane.workflow.${key}`, v);
      }
      if (e.status === 'error') {
        span.setAttribute(attr.errorType, String(e.attributes.code ?? e.attributes.status ?? 'error'));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
      if (action === span) action = undefined;
    },
  };
  return {
    listener,
    inAction: <T>(fn: () => Promise<T>): Promise<T> => (action ? runInSpan(action, fn) : fn()),
    /** Ends spans the engine left open (a thrown error). */
    close() {
      for (const span of open.values()) span.end();
      open.clear();
    },
  };
}

/** What the engine's HTTP dependency is made of: the run's cancellation, redaction, spans, lease, credentials. */
interface EngineHttpOptions {
  cancel: AbortSignal | undefined;
  /** Redacts a request's URL for its CLIENT span. */
  redact: (s: string) => string;
  /** Runs a request inside the open action span. */
  inAction?: (<T>(fn: () => Promise<T>) => Promise<T>) | undefined;
  /** Sees every request sent and its outcome (a debug session's captures). */
  onExchange?: ((request: UpstreamRequest, outcome: UpstreamOutcome) => void) | undefined;
  /** Awaited once, before the first request leaves (the execution lease). */
  beforeFirstRequest?: (() => Promise<void>) | undefined;
  /** A connector's credentials, for the steps that carry templates. */
  credentials?: ReturnType<typeof connectorCredentials> | undefined;
  /** Sees every request as it is sent, credentials added. */
  onRequest?: ((request: UpstreamRequest) => void) | undefined;
  /** Spends a connector instance's rate limits (throws past them). */
  takeRateLimit?: ((source: string) => Promise<void>) | undefined;
}

/** The engine's HTTP dependency on top of `sendRequest`. */
function engineHttp(options: EngineHttpOptions): EngineDeps['http'] {
  const { cancel, redact, inAction, onExchange, beforeFirstRequest, credentials, onRequest, takeRateLimit } = options;
  let ready: Promise<void> | undefined;
  return async (req) => {
    // A step on a connector instance's operation spends its rate limits first, as a plain call (throws past them).
    if (takeRateLimit && req.source !== undefined) await takeRateLimit(req.source);
    const signal = req.signal ?? cancel;
    const built: UpstreamRequest = {
      method: req.method,
      url: req.url,
      headers: req.headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
    };
    const started = Date.now();
    const exchange = async (stale?: string) => {
      const added = req.credentials && credentials ? await credentials(req.credentials, built, stale) : undefined;
      // The lease, once the credentials are known (a person without a connection sends nothing, as for HTTP tools).
      if (beforeFirstRequest) {
        try {
          await (ready ??= beforeFirstRequest());
        } catch (err) {
          throw new HttpTransportError('unreachable', `not sent: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      const request = added ? withCredentials(built, added) : built;
      onRequest?.(request);
      const timeoutMs = stale === undefined ? req.timeoutMs : Math.max(1, req.timeoutMs - (Date.now() - started));
      const send = () =>
        sendRequest(request, { timeoutMs, maxResponseBytes: req.maxResponseBytes }, signal, {
          urlTemplate: req.urlTemplate,
          url: redact(req.url),
        });
      const outcome = inAction ? await inAction(send) : await send();
      onExchange?.(request, outcome);
      return { outcome, person: added?.person };
    };
    const first = await exchange();
    let outcome = first.outcome;
    // A person's token the upstream refused (401: it did nothing): refreshed once and sent once more (ADR 0027).
    if (first.person && outcome.kind === 'response' && outcome.status === 401 && !signal?.aborted)
      ({ outcome } = await exchange(first.person.token));
    switch (outcome.kind) {
      case 'response':
        return {
          status: outcome.status,
          headers: outcome.headers ?? { 'content-type': outcome.contentType },
          body: utf8.decode(outcome.body),
          size: outcome.body.byteLength,
        };
      default:
        return transportFailure(outcome, req);
    }
  };
}

function stepOutcome(e: TraceEntry): ExecutionStep['outcome'] {
  const err = typeof e.attributes.error === 'string' ? e.attributes.error : '';
  if (err.startsWith('timeout')) return 'timeout';
  if (err.startsWith('too_large') || err === 'response too large') return 'too_large';
  if (err.startsWith('cancelled')) return 'cancelled';
  if (err.startsWith('unreachable') || err.startsWith('blocked')) return 'unreachable';
  return 'response';
}

/** The trace's HTTP attempts as execution-record steps (`name` = `<workflow>/<step>`; URLs already redacted by the engine). */
function traceToSteps(trace: readonly TraceEntry[]): ExecutionStep[] {
  return trace
    .filter((e) => e.name === 'action.run' && typeof e.attributes.url === 'string')
    .map((e) => ({
      kind: e.attributes.stepKind === 'mcp' ? ('mcp' as const) : ('http' as const),
      name: `${e.workflowId}/${e.stepId ?? ''}`,
      method: String(e.attributes.method ?? ''),
      urlTemplate: String(e.attributes.urlTemplate ?? ''),
      url: String(e.attributes.url),
      ...(typeof e.attributes.status === 'number' ? { status: e.attributes.status } : {}),
      outcome: stepOutcome(e),
      durationMs: e.durationMs,
      attempt: typeof e.attributes.attempt === 'number' ? e.attributes.attempt : 1,
    }));
}

export type { ExecutionTreeNode };

/** The engine's trace as a tree, every text passed through `redact` (the engine already removed secrets; this adds per-caller values). */
function traceToTree(trace: readonly TraceEntry[], redact: (s: string) => string = (s) => s): ExecutionTreeNode[] {
  const nodes = new Map<number, ExecutionTreeNode>();
  const roots: ExecutionTreeNode[] = [];
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? redact(v) : undefined);
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  for (const e of trace) {
    const a = e.attributes;
    const node: ExecutionTreeNode = {
      kind: e.name,
      workflowId: e.workflowId,
      startedAt: new Date(e.startedAt).toISOString(),
      durationMs: e.durationMs,
      status: e.status,
      children: [],
    };
    if (e.stepId !== undefined) node.stepId = e.stepId;
    const fields: Partial<ExecutionTreeNode> =
      e.name === 'action.run'
        ? {
            method: str(a.method),
            urlTemplate: str(a.urlTemplate),
            url: str(a.url),
            httpStatus: num(a.status),
            attempt: num(a.attempt),
            responseBytes: num(a.responseBytes),
            action: str(a.action),
            error: str(a.error),
          }
        : e.name === 'step.run'
          ? {
              outcome: str(a.outcome),
              attempts: num(a.attempts),
              retries: num(a.retries),
              action: str(a.action),
              target: str(a.target),
              errorCode: str(a.code),
            }
          : { outcome: str(a.outcome), errorCode: str(a.code) };
    for (const [k, v] of Object.entries(fields))
      if (v !== undefined) (node as unknown as Record<string, unknown>)[k] = v;
    nodes.set(e.id, node);
    const parent = e.parentId !== undefined ? nodes.get(e.parentId) : undefined;
    (parent ? parent.children : roots).push(node);
  }
  return roots;
}

/**
 * A run stopped by an error that is the call's, not the workflow's (a person without a connection: the
 * `connection.required` error with its link, as a plain tool gives): `cause` is that error, `steps` the HTTP
 * attempts that ran before it (for the execution record). Nothing after the step that needed it runs.
 */
export class WorkflowStopped extends Error {
  override readonly cause: unknown;
  readonly steps: ExecutionStep[];
  constructor(cause: unknown, steps: ExecutionStep[]) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.cause = cause;
    this.steps = steps;
  }
}

/** The MCP result: declared outputs as `structuredContent` (and as JSON text), or an `isError` result naming the step. */
function toWorkflowResult(workflowId: string, run: WorkflowRunResult): ToolResultPayload {
  if (run.ok) return { content: [{ type: 'text', text: JSON.stringify(run.outputs) }], structuredContent: run.outputs };
  const e = run.error!;
  const where = e.stepId
    ? ` at step "${e.stepId}"${e.workflowId && e.workflowId !== workflowId ? ` of "${e.workflowId}"` : ''}`
    : '';
  return errorResult(`Workflow "${workflowId}" failed${where} (${e.code}): ${e.message}`);
}

/** Adds a step-end callback to the engine's trace listener (keeping the span listener, if any). */
function withStepEnd(
  inner: EngineDeps['trace'],
  onStepEnd: NonNullable<WorkflowCall['onStepEnd']>,
): NonNullable<EngineDeps['trace']> {
  let completed = 0;
  return {
    start: (e) => inner?.start(e),
    end(e) {
      inner?.end(e);
      if (e.name === 'step.run')
        onStepEnd({ workflowId: e.workflowId, stepId: e.stepId ?? '', status: e.status, completed: ++completed });
    },
  };
}

/**
 * Debug captures (only while a session is open): each HTTP attempt's raw exchange, tagged with the
 * action that made it (steps run one at a time, so the open `action.run` is the one sending) and its
 * attempt number from the action's end. Redacted and capped once the run is over (all secrets known).
 */
function exchangeRecorder(inner: EngineDeps['trace']) {
  const raw: {
    name: string;
    attempt: number;
    actionId: number | undefined;
    request: UpstreamRequest;
    outcome: UpstreamOutcome;
  }[] = [];
  let action: { id: number; name: string } | undefined;
  const listener: NonNullable<EngineDeps['trace']> = {
    start(e) {
      inner?.start(e);
      if (e.name === 'action.run') action = { id: e.id, name: `${e.workflowId}/${e.stepId ?? ''}` };
    },
    end(e) {
      inner?.end(e);
      if (e.name !== 'action.run') return;
      const attempt = e.attributes.attempt;
      if (typeof attempt === 'number') for (const x of raw) if (x.actionId === e.id) x.attempt = attempt;
      if (action?.id === e.id) action = undefined;
    },
  };
  return {
    listener,
    onExchange(request: UpstreamRequest, outcome: UpstreamOutcome) {
      raw.push({ name: action?.name ?? '', attempt: 1, actionId: action?.id, request, outcome });
    },
    captures(capture: NonNullable<WorkflowCall['captureExchange']>, sensitive: string[]): DebugStep[] {
      return raw.map((x) => ({ name: x.name, attempt: x.attempt, ...capture(x.request, x.outcome, sensitive) }));
    },
  };
}

/**
 * The rate limits of the connector instances the steps call through bound sources: their buckets, keyed as their
 * tools' calls (one key function: `RateLimits.take`); refused: the run stops.
 */
function rateLimitTaker(
  plan: Pick<WorkflowPlan, 'connectors'>,
  rateLimits: WorkflowRunnerDeps['rateLimits'],
  user: string | undefined,
): ((source: string) => Promise<void>) | undefined {
  const { connectors } = plan;
  if (!rateLimits || !connectors) return undefined;
  return async (source) => {
    const bound = Object.hasOwn(connectors, source) ? connectors[source] : undefined;
    if (!bound?.rateLimits) return;
    const taken = await rateLimits.take(bound.rateLimits, user);
    if (!taken.ok) throw new RateLimitedError(taken);
  };
}

/** `fn` run once: later calls get the first call's promise. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let ran: Promise<void> | undefined;
  return () => (ran ??= fn());
}

/** The engine's `tool` dependency: the call's tool runner, its secret values kept for redaction, inside the action span. */
function toolDependency(
  callTool: NonNullable<WorkflowCall['callTool']>,
  markSent: (() => Promise<void>) | undefined,
  secretValues: string[],
  inAction: (<T>(fn: () => Promise<T>) => Promise<T>) | undefined,
): NonNullable<EngineDeps['tool']> {
  const run = { markSent: markSent ?? (() => Promise.resolve()), onSecret: (v: string) => void secretValues.push(v) };
  return (request) => (inAction ? inAction(() => callTool(request, run)) : callTool(request, run));
}

/** A text with every sensitive value (and the forms it took on the wire) redacted. */
function redactText(text: string, sensitive: readonly string[]): string {
  return redactSecrets({ content: [{ type: 'text', text }] }, [...sensitive]).content[0]!.text as string;
}

/**
 * The engine's `secret` dependency: `$secrets.NAME` from the plan's own name (the server's secret), else the
 * workspace's of that name; every value read is kept for redaction.
 */
function secretDependency(
  plan: WorkflowPlan,
  call: WorkflowCall,
  secrets: SecretResolver,
  secretValues: string[],
): EngineDeps['secret'] {
  return async (name) => {
    const stored = plan.secretNames[name];
    const shared = call.workspaceSecretNames?.[name];
    let value = stored ? await secrets.resolve(stored) : undefined;
    if (value === undefined && shared) value = await secrets.resolve(shared);
    if (value !== undefined) secretValues.push(value);
    return value;
  };
}

export async function runWorkflowTool(
  plan: WorkflowPlan,
  call: WorkflowCall,
  deps: WorkflowRunnerDeps,
): Promise<WorkflowCallOutcome> {
  const secretValues: string[] = [];
  const redact = (s: string): string => redactText(s, secretValues);
  const perCaller = [...Object.values(call.config ?? {}), ...(call.currentUserToken ? [call.currentUserToken] : [])];
  const spans = tracingEnabled() ? workflowSpans() : undefined;
  const recorder = call.captureExchange ? exchangeRecorder(spans?.listener) : undefined;
  const credentials = plan.connectors
    ? connectorCredentials(plan, { ...deps, personToken: call.personToken }, call.connectorUser, (v) =>
        secretValues.push(v),
      )
    : undefined;
  const takeRateLimit = rateLimitTaker(plan, deps.rateLimits, call.rateLimitUser);
  // The execution lease, written once before the first request of the run leaves, whichever step sends it.
  const markSent = call.beforeFirstRequest ? once(call.beforeFirstRequest) : undefined;
  const deps2: EngineDeps = {
    http: engineHttp({
      cancel: call.cancel,
      redact,
      inAction: spans?.inAction,
      onExchange: recorder?.onExchange,
      beforeFirstRequest: markSent,
      credentials,
      // The forms the secrets took in the bytes of each request (its URL's encoding), redacted with them.
      onRequest: (request) => {
        for (const f of sentSecretForms(request, [...secretValues, ...perCaller]))
          if (!secretValues.includes(f)) secretValues.push(f);
      },
      takeRateLimit,
    }),
    secret: secretDependency(plan, call, deps.secrets, secretValues),
    limits: {
      deadlineMs: Math.max(1, call.remainingMs),
      requestTimeoutMs: deps.limits.timeoutMs,
      maxResponseBytes: deps.limits.maxResponseBytes,
      ...(deps.maxSteps !== undefined ? { maxSteps: deps.maxSteps } : {}),
    },
  };
  if (call.callTool) deps2.tool = toolDependency(call.callTool, markSent, secretValues, spans?.inAction);
  if (call.cancel) deps2.signal = call.cancel;
  if (call.config) deps2.config = call.config;
  if (call.currentUserToken !== undefined) deps2.currentUserToken = call.currentUserToken;
  if (call.currentUser) deps2.currentUser = call.currentUser;
  if (spans) deps2.trace = spans.listener;
  if (recorder) deps2.trace = recorder.listener;
  if (call.onStepEnd) deps2.trace = withStepEnd(deps2.trace, call.onStepEnd);
  // The entries as they start (each filled in when it ends): the attempts made before an error that stops the run.
  const started: TraceEntry[] = [];
  const inner = deps2.trace;
  deps2.trace = { start: (e) => (started.push(e), inner?.start(e)), end: (e) => inner?.end(e) };
  let run: WorkflowRunResult;
  try {
    run = await runWorkflow(plan.ir as unknown as WorkflowDocumentIR, plan.workflowId, call.arguments, deps2);
  } catch (err) {
    const sensitive = [...secretValues, ...perCaller];
    throw new WorkflowStopped(
      err,
      traceToSteps(started).map((s) => ({ ...s, url: redactText(s.url, sensitive) })),
    );
  } finally {
    spans?.close();
  }
  const sensitive = [...secretValues, ...perCaller];
  const result = redactSecrets(toWorkflowResult(plan.workflowId, run), sensitive);
  const redactAll = (text: string): string => redactText(text, sensitive);
  const steps = traceToSteps(run.trace).map((s) => ({ ...s, url: redactAll(s.url) }));
  const tree = traceToTree(run.trace, redactAll);
  const outcome: WorkflowCallOutcome = { result, steps, tree, ok: run.ok, secretValues: () => sensitive };
  if (recorder && call.captureExchange) outcome.debugSteps = recorder.captures(call.captureExchange, sensitive);
  if (!run.ok) {
    outcome.errorCode = `workflow.${run.error!.code}`;
    outcome.message = result.content[0]!.text as string;
  }
  return outcome;
}
