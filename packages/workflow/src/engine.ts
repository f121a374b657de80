import { allCriteria } from './criteria.ts';
import {
  evaluateString,
  evaluateTemplate,
  ExpressionError,
  normaliseConfigName,
  type RequestState,
  type ResponseState,
  type Scope,
  type StepState,
  stringify,
} from './expressions.ts';
import type {
  ActionIR,
  CredentialsIR,
  Dialect,
  HttpTargetIR,
  OrderedMap,
  RequestBodyIR,
  StepIR,
  ToolTargetIR,
  WorkflowDocumentIR,
  WorkflowIR,
} from './ir.ts';

/**
 * The one workflow engine. Pure: HTTP, secrets and the clock are injected, so the worker runs it
 * with got and the sealed secret store, and tests run it with fakes. It returns the declared outputs
 * and a trace (flow.run → step.run → action.run) for execution records, with secret values redacted.
 */

export interface HttpRequest {
  method: string;
  url: string;
  /** The URL as the document writes it (for span names and records; holds expressions, never values). */
  urlTemplate: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body?: string;
  /** Per-request timeout, already shortened to what is left of the run's deadline. */
  timeoutMs: number;
  maxResponseBytes: number;
  signal?: AbortSignal;
  /**
   * Arazzo: the source description of the operation the step calls. For a source bound to a connector instance,
   * the worker spends the instance's `rate_limits` on each request of it, as its tools' calls do.
   */
  source?: string;
  /**
   * An Arazzo step calling an operation of a source bound to a connector instance: the source and the
   * operation's credential templates, for the worker to add (the engine never sees credential values).
   */
  credentials?: CredentialsIR & { source: string };
}

/** A tool step's call (`ToolTargetIR`): the worker runs the tool's compiled plan as a call of that tool. */
export interface ToolRequest {
  /** The key of the tool's plan in the catalog. */
  ref: string;
  tool: string;
  source?: string;
  arguments: Record<string, unknown>;
  /** Already shortened to what is left of the run's deadline. */
  timeoutMs: number;
  maxResponseBytes: number;
  signal?: AbortSignal;
}

/** What a tool step's call gave, as the step's `$statusCode` and `$response.body`, and what it sent (for the trace). */
export interface ToolResponse {
  /** The upstream's HTTP status for a tool that sent one request; else 200, or 502 for an `isError` result. */
  status: number;
  /** The result's `structuredContent`, else its text parsed as JSON when it is JSON, else the text. */
  body: unknown;
  /** An `isError` result's text (the step's failure message quotes it). */
  errorText?: string;
  /** `GET`…, or `tools/call` for an MCP tool; the URL with secrets redacted; the kind of the record's step. */
  method: string;
  url: string;
  kind: 'http' | 'mcp';
  size: number;
}

export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  body: string;
  /** Bytes received. */
  size: number;
}

export type TransportFailure = 'timeout' | 'unreachable' | 'too_large' | 'cancelled' | 'blocked';

/** What `deps.http` throws when no HTTP response came back. */
export class HttpTransportError extends Error {
  override readonly name = 'HttpTransportError';
  readonly kind: TransportFailure;
  constructor(kind: TransportFailure, message: string) {
    super(message);
    this.kind = kind;
  }
}

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = setTimeout(resolve, ms);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    }),
};

interface EngineLimits {
  /** Step executions (every attempt, every sub-workflow step) per run; goto loops end here. */
  maxSteps: number;
  /** Wall-clock budget of the whole run. */
  deadlineMs: number;
  requestTimeoutMs: number;
  maxResponseBytes: number;
}

const defaultLimits: EngineLimits = {
  maxSteps: 100,
  deadlineMs: 60_000,
  requestTimeoutMs: 15_000,
  maxResponseBytes: 5 * 1024 * 1024,
};

export interface EngineDeps {
  http(request: HttpRequest): Promise<HttpResponse>;
  /** Runs a tool step (absent: a document with one fails at that step with `request_invalid`). */
  tool?(request: ToolRequest): Promise<ToolResponse>;
  /** A secret's value by name (undefined when it does not exist). Only called for names the workflow uses. */
  secret(name: string): Promise<string | undefined>;
  clock?: Clock;
  /**
   * The caller's `Config-<Name>` request headers as the edge read them, names without the prefix (any case, `_` or `-`):
   * `$config.<name>`, `$current_user.<name>`. The edge alone picks them out of the request's headers.
   */
  config?: Readonly<Record<string, string>>;
  /** The caller's OAuth access token, for `$current_user.token` (absent when not given). */
  currentUserToken?: string;
  /**
   * The verified external user the call runs for (`name` and declared attributes): `$current_user.<name>`
   * reads these before any `Config-*` header, so a caller cannot claim another user's name with a header.
   */
  currentUser?: Readonly<Record<string, string>>;
  limits?: Partial<EngineLimits>;
  signal?: AbortSignal;
  /**
   * Live trace events, in order: `start` when a flow.run / step.run / action.run entry opens, `end`
   * once it is closed (status and redacted attributes set). The worker turns them into OpenTelemetry
   * spans, so the HTTP requests of an action nest under it. Must not throw.
   */
  trace?: { start(entry: TraceEntry): void; end(entry: TraceEntry): void };
}

type WorkflowErrorCode =
  | 'unknown_workflow'
  | 'secret_missing'
  | 'step_failed'
  | 'retries_exhausted'
  | 'step_budget_exhausted'
  | 'deadline_exceeded'
  | 'upstream_timeout'
  | 'upstream_unreachable'
  | 'upstream_blocked'
  | 'response_too_large'
  | 'cancelled'
  | 'expression_error'
  | 'request_invalid';

interface WorkflowRunError {
  code: WorkflowErrorCode;
  message: string;
  workflowId?: string;
  stepId?: string;
}

export interface TraceEntry {
  id: number;
  parentId?: number;
  name: 'flow.run' | 'step.run' | 'action.run';
  workflowId: string;
  stepId?: string;
  /** Epoch ms (from the injected clock). */
  startedAt: number;
  durationMs: number;
  status: 'ok' | 'error';
  attributes: Record<string, string | number | boolean>;
}

export interface WorkflowRunResult {
  ok: boolean;
  /** Declared outputs only; absent values are left out. Empty when the run failed. */
  outputs: Record<string, unknown>;
  error?: WorkflowRunError;
  trace: TraceEntry[];
  /** Step executions the run used. */
  steps: number;
  durationMs: number;
}

class RunFailure extends Error {
  readonly code: WorkflowErrorCode;
  readonly workflowId: string | undefined;
  readonly stepId: string | undefined;
  constructor(
    code: WorkflowErrorCode,
    message: string,
    where: { workflowId?: string | undefined; stepId?: string | undefined } = {},
  ) {
    super(message);
    this.code = code;
    this.workflowId = where.workflowId;
    this.stepId = where.stepId;
  }
}

/** Failures no step-level action may handle: the run stops. */
const fatal = new Set<WorkflowErrorCode>([
  'step_budget_exhausted',
  'deadline_exceeded',
  'cancelled',
  'response_too_large',
  'upstream_blocked',
  'secret_missing',
  'expression_error',
  'request_invalid',
]);

interface RunState {
  doc: WorkflowDocumentIR;
  deps: EngineDeps;
  clock: Clock;
  limits: EngineLimits;
  startedAt: number;
  deadline: number;
  stepsRun: number;
  trace: TraceEntry[];
  nextId: number;
  secrets: Map<string, string>;
  config: Map<string, string>;
  redact: (s: string) => string;
  workflowResults: Record<string, { inputs: Record<string, unknown>; outputs: Record<string, unknown> }>;
}

interface FlowFrame {
  wf: WorkflowIR;
  inputs: Record<string, unknown>;
  steps: Record<string, StepState>;
  traceId: number;
  /** Status of the last HTTP response in this flow (a workflow step's `$statusCode`). */
  lastStatus?: number;
}

type Transition =
  { kind: 'next' } | { kind: 'goto'; index: number } | { kind: 'end' } | { kind: 'gotoWorkflow'; workflowId: string };

/**
 * An IR in today's shape. Catalogs stored before `v: 2` hold outputs as plain objects; they run with
 * the order their keys arrive in (which PostgreSQL `jsonb` may already have changed: redeploy to fix).
 */
function currentIr(ir: WorkflowDocumentIR): WorkflowDocumentIR {
  const pairs = (m: unknown): OrderedMap<unknown> =>
    Array.isArray(m) ? (m as OrderedMap<unknown>) : Object.entries((m ?? {}) as Record<string, unknown>);
  if (ir.workflows.every((w) => Array.isArray(w.outputs) && w.steps.every((s) => Array.isArray(s.outputs)))) return ir;
  return {
    ...ir,
    workflows: ir.workflows.map((w) => ({
      ...w,
      outputs: pairs(w.outputs),
      steps: w.steps.map((s) => ({ ...s, outputs: pairs(s.outputs) })),
    })),
  };
}

function findWorkflow(doc: WorkflowDocumentIR, id: string): WorkflowIR | undefined {
  return doc.workflows.find((w) => w.id === id);
}

function applyDefaults(schema: Record<string, unknown>, inputs: Record<string, unknown>): Record<string, unknown> {
  const out = { ...inputs };
  const props = schema.properties;
  if (props && typeof props === 'object') {
    for (const [k, v] of Object.entries(props as Record<string, unknown>)) {
      if (out[k] === undefined && v && typeof v === 'object' && 'default' in v)
        out[k] = structuredClone((v as { default: unknown }).default);
    }
  }
  return out;
}

/** Inputs for another workflow run with the caller's arguments: the ones it declares (all when it declares none). */
function inputsFor(wf: WorkflowIR, inputs: Record<string, unknown>): Record<string, unknown> {
  const props = wf.inputSchema.properties as Record<string, unknown> | undefined;
  if (!props || Object.keys(props).length === 0) return applyDefaults(wf.inputSchema, inputs);
  const picked: Record<string, unknown> = {};
  for (const k of Object.keys(props)) if (inputs[k] !== undefined) picked[k] = inputs[k];
  return applyDefaults(wf.inputSchema, picked);
}

function makeRedactor(values: readonly string[]): (s: string) => string {
  const list = [...new Set(values.filter((v) => v.length > 0))].sort((a, b) => b.length - a.length);
  if (list.length === 0) return (s) => s;
  return (s) => {
    let out = s;
    for (const v of list) {
      if (out.includes(v)) out = out.split(v).join('[REDACTED]');
      const enc = encodeURIComponent(v);
      if (enc !== v && out.includes(enc)) out = out.split(enc).join('[REDACTED]');
    }
    return out;
  };
}

function redactDeep(value: unknown, redact: (s: string) => string): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, redact);
    return out;
  }
  return value;
}

/** Keeps `%XX` escapes already present (Flower authors often pre-encode) and encodes everything else that needs it. */
function encodeKeepingEscapes(s: string): string {
  return s
    .split(/(%[0-9A-Fa-f]{2})/)
    .map((part, i) => (i % 2 === 1 ? part : encodeURIComponent(part)))
    .join('');
}

function parseBody(text: string, contentType: string): unknown {
  if (text === '') return undefined;
  if (/json/i.test(contentType) || /^\s*[[{"]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function setPointer(target: unknown, pointer: string, value: unknown): unknown {
  if (pointer === '') return value;
  const tokens = pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
  let cur = target as Record<string, unknown>;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i]!;
    if (cur[t] === null || typeof cur[t] !== 'object') cur[t] = {};
    cur = cur[t] as Record<string, unknown>;
  }
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(cur) && last === '-') cur.push(value);
  else cur[last] = value;
  return target;
}

function retryAfterMs(response: ResponseState | undefined, now: number): number | undefined {
  const h = response?.headers['retry-after'];
  if (h === undefined) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(h)) return Math.round(Number(h) * 1000);
  const date = Date.parse(h);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export async function runWorkflow(
  document: WorkflowDocumentIR,
  workflowId: string,
  inputs: Record<string, unknown>,
  deps: EngineDeps,
): Promise<WorkflowRunResult> {
  const ir = currentIr(document);
  const clock = deps.clock ?? systemClock;
  const limits: EngineLimits = { ...defaultLimits, ...deps.limits };
  const startedAt = clock.now();
  const config = new Map<string, string>();
  for (const [name, value] of Object.entries(deps.config ?? {})) config.set(normaliseConfigName(name), value);
  const state: RunState = {
    doc: ir,
    deps,
    clock,
    limits,
    startedAt,
    deadline: startedAt + limits.deadlineMs,
    stepsRun: 0,
    trace: [],
    nextId: 1,
    secrets: new Map(),
    config,
    redact: (s) => s,
    workflowResults: {},
  };
  const finish = (ok: boolean, outputs: Record<string, unknown>, error?: WorkflowRunError): WorkflowRunResult => {
    const result: WorkflowRunResult = {
      ok,
      outputs: redactDeep(outputs, state.redact) as Record<string, unknown>,
      trace: state.trace,
      steps: state.stepsRun,
      durationMs: clock.now() - startedAt,
    };
    if (error) result.error = { ...error, message: state.redact(error.message) };
    return result;
  };
  const wf = findWorkflow(ir, workflowId);
  if (!wf)
    return finish(
      false,
      {},
      { code: 'unknown_workflow', message: `the document has no workflow ${JSON.stringify(workflowId)}` },
    );
  for (const name of wf.secrets) {
    const value = await deps.secret(name);
    if (value === undefined)
      return finish(
        false,
        {},
        { code: 'secret_missing', message: `the secret ${JSON.stringify(name)} is not set`, workflowId },
      );
    state.secrets.set(name, value);
  }
  const sensitive = [...state.secrets.values(), ...config.values()];
  if (deps.currentUserToken) sensitive.push(deps.currentUserToken);
  state.redact = makeRedactor(sensitive);
  try {
    const outputs = await runFlow(state, wf, applyDefaults(wf.inputSchema, inputs), undefined);
    return finish(true, outputs);
  } catch (err) {
    if (err instanceof RunFailure) {
      const e: WorkflowRunError = { code: err.code, message: err.message };
      if (err.workflowId) e.workflowId = err.workflowId;
      if (err.stepId) e.stepId = err.stepId;
      return finish(false, {}, e);
    }
    if (err instanceof ExpressionError)
      return finish(false, {}, { code: 'expression_error', message: err.message, workflowId });
    throw err;
  }
}

function startEntry(
  state: RunState,
  name: TraceEntry['name'],
  workflowId: string,
  parentId: number | undefined,
  stepId?: string,
): TraceEntry {
  const e: TraceEntry = {
    id: state.nextId++,
    name,
    workflowId,
    startedAt: state.clock.now(),
    durationMs: 0,
    status: 'ok',
    attributes: {},
  };
  if (parentId !== undefined) e.parentId = parentId;
  if (stepId !== undefined) e.stepId = stepId;
  state.trace.push(e);
  state.deps.trace?.start(e);
  return e;
}

function endEntry(
  state: RunState,
  e: TraceEntry,
  status: 'ok' | 'error',
  attributes: Record<string, string | number | boolean | undefined>,
): void {
  e.durationMs = state.clock.now() - e.startedAt;
  e.status = status;
  for (const [k, v] of Object.entries(attributes))
    if (v !== undefined) e.attributes[k] = typeof v === 'string' ? state.redact(v) : v;
  state.deps.trace?.end(e);
}

function checkBudget(state: RunState, wf: WorkflowIR, step: StepIR): void {
  if (state.deps.signal?.aborted)
    throw new RunFailure('cancelled', 'the run was cancelled by its caller', { workflowId: wf.id, stepId: step.id });
  if (state.stepsRun >= state.limits.maxSteps) {
    throw new RunFailure(
      'step_budget_exhausted',
      `the run used its budget of ${state.limits.maxSteps} step executions at step ${JSON.stringify(step.id)} of ${JSON.stringify(wf.id)} (a goto or retry loop that never ends?)`,
      { workflowId: wf.id, stepId: step.id },
    );
  }
  if (state.clock.now() >= state.deadline) {
    throw new RunFailure(
      'deadline_exceeded',
      `the run exceeded its ${state.limits.deadlineMs} ms deadline before step ${JSON.stringify(step.id)}`,
      { workflowId: wf.id, stepId: step.id },
    );
  }
  state.stepsRun++;
}

function scopeFor(state: RunState, frame: FlowFrame, extra: Partial<Scope> = {}): Scope {
  const scope: Scope = {
    dialect: state.doc.format,
    inputs: frame.inputs,
    outputs: {},
    steps: frame.steps,
    workflows: state.workflowResults,
    sources: state.doc.sources,
    components: state.doc.components,
    secrets: state.secrets,
    config: state.config,
    ...extra,
  };
  if (state.deps.currentUserToken !== undefined) scope.currentUserToken = state.deps.currentUserToken;
  if (state.deps.currentUser) scope.currentUser = state.deps.currentUser;
  return scope;
}

async function runFlow(
  state: RunState,
  wf: WorkflowIR,
  inputs: Record<string, unknown>,
  parentId: number | undefined,
): Promise<Record<string, unknown>> {
  const entry = startEntry(state, 'flow.run', wf.id, parentId);
  const frame: FlowFrame = { wf, inputs, steps: {}, traceId: entry.id };
  let outcome = 'completed';
  try {
    for (const dep of wf.dependsOn) {
      if (state.workflowResults[dep]) continue;
      const depWf = findWorkflow(state.doc, dep);
      if (!depWf)
        throw new RunFailure('unknown_workflow', `dependsOn names an unknown workflow ${JSON.stringify(dep)}`, {
          workflowId: wf.id,
        });
      await runFlow(state, depWf, inputsFor(depWf, inputs), entry.id);
    }
    let index = 0;
    while (index < wf.steps.length) {
      const step = wf.steps[index]!;
      const t = await runStep(state, frame, step);
      if (t.kind === 'next') index++;
      else if (t.kind === 'goto') index = t.index;
      else if (t.kind === 'end') {
        outcome = 'ended';
        break;
      } else {
        const target = findWorkflow(state.doc, t.workflowId)!;
        await runFlow(state, target, inputsFor(target, inputs), entry.id);
        outcome = `goto:${t.workflowId}`;
        break;
      }
    }
    const outputs: Record<string, unknown> = {};
    const scope = scopeFor(state, frame, { outputs });
    for (const [name, template] of wf.outputs) {
      const v = evaluateTemplate(template, scope);
      if (v !== undefined) outputs[name] = v;
    }
    state.workflowResults[wf.id] = { inputs, outputs };
    endEntry(state, entry, 'ok', { outcome, steps: Object.keys(frame.steps).length });
    return outputs;
  } catch (err) {
    endEntry(state, entry, 'error', {
      outcome: 'failed',
      error: err instanceof Error ? err.message : String(err),
      code: err instanceof RunFailure ? err.code : undefined,
    });
    throw err;
  }
}

interface Attempt {
  request?: RequestState;
  response?: ResponseState;
  /** A called workflow's outputs (workflow steps). */
  subOutputs?: Record<string, unknown>;
  failure?: RunFailure;
  /** A tool step whose tool answered with an error: its text. */
  toolError?: string;
}

/** Why a step's criteria failed, as its message says: the HTTP status, and what a tool answered. */
function failureDetail(attempt: Attempt): string {
  const status = attempt.response ? ` (HTTP ${attempt.response.status})` : '';
  return attempt.toolError !== undefined ? `${status}: the tool answered with an error: ${attempt.toolError}` : status;
}

/**
 * A step's attempt recorded in its frame: the step's state (request, response, outputs evaluated unless the attempt
 * failed) and the scope its criteria are read in (a workflow step's `$outputs` are the called workflow's).
 */
function recordAttempt(state: RunState, frame: FlowFrame, step: StepIR, attempt: Attempt): { scope: Scope } {
  const stepState: StepState = { outputs: {} };
  if (attempt.request) stepState.request = attempt.request;
  if (attempt.response) stepState.response = attempt.response;
  frame.steps[step.id] = stepState;
  const base: Partial<Scope> = {};
  if (attempt.request) base.request = attempt.request;
  if (attempt.response) base.response = attempt.response;
  else if (attempt.subOutputs && frame.lastStatus !== undefined)
    base.response = { status: frame.lastStatus, headers: {}, body: undefined };
  const scope = scopeFor(state, frame, { ...base, outputs: attempt.subOutputs ?? stepState.outputs });
  if (!attempt.failure) {
    for (const [name, template] of step.outputs) {
      const v = evaluateTemplate(template, scope);
      if (v !== undefined) stepState.outputs[name] = v;
    }
  }
  return { scope };
}

/** What a step's success or failure actions chose: the first whose criteria hold and whose retries are not used up. */
interface Choice {
  chosen?: ActionIR;
  index: number;
  /** A retry action matched but its retries were used up. */
  exhausted: boolean;
}

function chooseAction(
  wf: WorkflowIR,
  step: StepIR,
  actions: readonly ActionIR[],
  scope: Scope,
  retriesUsed: Map<number, number>,
): Choice {
  let exhausted = false;
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i]!;
    if (!allCriteria(a.criteria, scope)) continue;
    if (a.type === 'retry') {
      const used = retriesUsed.get(i) ?? 0;
      if (used >= (a.retryLimit ?? 1)) {
        exhausted = true;
        if (a.onExhausted === 'fail')
          throw new RunFailure(
            'retries_exhausted',
            `step ${JSON.stringify(step.id)} still asked for a retry after ${used} retries`,
            { workflowId: wf.id, stepId: step.id },
          );
        continue;
      }
    }
    return { chosen: a, index: i, exhausted };
  }
  return { index: -1, exhausted };
}

/** Why a step that no action took over failed: its attempt's own failure, or its criteria. */
function stepFailure(wf: WorkflowIR, step: StepIR, attempt: Attempt, exhausted: boolean): RunFailure {
  if (attempt.failure)
    return new RunFailure(attempt.failure.code, attempt.failure.message, {
      workflowId: attempt.failure.workflowId ?? wf.id,
      stepId: attempt.failure.stepId ?? step.id,
    });
  return new RunFailure(
    exhausted ? 'retries_exhausted' : 'step_failed',
    `step ${JSON.stringify(step.id)} failed${failureDetail(attempt)}: its success criteria were not met${exhausted ? ' after every retry' : ''}`,
    { workflowId: wf.id, stepId: step.id },
  );
}

/**
 * A retry action: first what it names (another workflow, or another step run once and recorded), then the wait
 * (`Retry-After`, else the action's own) unless it would end past the run's deadline.
 */
async function retryStep(
  state: RunState,
  frame: FlowFrame,
  at: { step: StepIR; parentId: number; response: ResponseState | undefined },
  retry: ActionIR,
): Promise<void> {
  const { step, parentId } = at;
  const wf = frame.wf;
  if (retry.workflowId) {
    const target = findWorkflow(state.doc, retry.workflowId)!;
    await runFlow(state, target, inputsFor(target, frame.inputs), parentId);
  } else if (retry.stepId) {
    const other = wf.steps.find((s) => s.id === retry.stepId)!;
    checkBudget(state, wf, other);
    const side = await execute(state, frame, other, parentId, 1);
    if (side.failure) throw side.failure;
    recordAttempt(state, frame, other, side);
  }
  const now = state.clock.now();
  const delay = retryAfterMs(at.response, now) ?? retry.retryAfterMs ?? 0;
  if (now + delay >= state.deadline) {
    throw new RunFailure(
      'deadline_exceeded',
      `step ${JSON.stringify(step.id)} would retry in ${delay} ms, past the run's ${state.limits.deadlineMs} ms deadline`,
      { workflowId: wf.id, stepId: step.id },
    );
  }
  if (delay > 0) await state.clock.sleep(delay, state.deps.signal);
}

/** Where a step that ended hands over (`next`, `end`, `goto`), with the attributes its trace entry closes with. */
function transitionOf(wf: WorkflowIR, chosen: ActionIR): { transition: Transition; target?: string } {
  if (chosen.type === 'end') return { transition: { kind: 'end' } };
  if (chosen.type === 'goto') {
    if (chosen.workflowId)
      return { transition: { kind: 'gotoWorkflow', workflowId: chosen.workflowId }, target: chosen.workflowId };
    return {
      transition: { kind: 'goto', index: wf.steps.findIndex((s) => s.id === chosen.stepId) },
      target: chosen.stepId,
    };
  }
  return { transition: { kind: 'next' } };
}

/**
 * One step: attempts until an action other than a retry is chosen (the budget checked before each), each attempt
 * recorded in the frame, its criteria read, its action chosen; the step's trace entry closes with the outcome.
 */
async function runStep(state: RunState, frame: FlowFrame, step: StepIR): Promise<Transition> {
  const wf = frame.wf;
  const entry = startEntry(state, 'step.run', wf.id, frame.traceId, step.id);
  let closed = false;
  const close = (status: 'ok' | 'error', attributes: Record<string, string | number | boolean | undefined>): void => {
    closed = true;
    endEntry(state, entry, status, attributes);
  };
  const retriesUsed = new Map<number, number>();
  let attempts = 0;
  let success = false;
  /** Some retry action of this step matched with its retries used up (on any attempt). */
  let exhausted = false;
  try {
    for (;;) {
      checkBudget(state, wf, step);
      attempts++;
      const attempt = await execute(state, frame, step, entry.id, attempts);
      if (attempt.failure && fatal.has(attempt.failure.code)) throw attempt.failure;
      if (attempt.response) frame.lastStatus = attempt.response.status;
      const { scope } = recordAttempt(state, frame, step, attempt);
      success = !attempt.failure && allCriteria(step.successCriteria, scope);
      const choice = chooseAction(wf, step, success ? step.onSuccess : step.onFailure, scope, retriesUsed);
      const { chosen, index } = choice;
      exhausted ||= choice.exhausted;
      const last = state.trace.filter((e) => e.name === 'action.run' && e.parentId === entry.id).at(-1);
      if (last) last.attributes.action = chosen?.type ?? (success ? 'next' : 'fail');
      const attrs = {
        outcome: success ? 'success' : 'failure',
        attempts,
        retries: attempts - 1,
        kind: step.target.kind,
      };
      if (!chosen) {
        if (!success) throw stepFailure(wf, step, attempt, exhausted);
        close('ok', { ...attrs, action: 'next' });
        return { kind: 'next' };
      }
      if (chosen.type === 'retry') {
        retriesUsed.set(index, (retriesUsed.get(index) ?? 0) + 1);
        await retryStep(state, frame, { step, parentId: entry.id, response: attempt.response }, chosen);
        continue;
      }
      const { transition, target } = transitionOf(wf, chosen);
      close(success || chosen.type === 'next' ? 'ok' : 'error', {
        ...attrs,
        action: chosen.type,
        ...(target !== undefined ? { target } : {}),
      });
      return transition;
    }
  } catch (err) {
    if (!closed) {
      close('error', {
        outcome: success ? 'success' : 'failure',
        action: 'fail',
        attempts,
        retries: Math.max(0, attempts - 1),
        kind: step.target.kind,
        code: err instanceof RunFailure ? err.code : 'expression_error',
      });
    }
    if (err instanceof ExpressionError)
      throw new RunFailure('expression_error', `step ${JSON.stringify(step.id)}: ${err.message}`, {
        workflowId: wf.id,
        stepId: step.id,
      });
    throw err;
  }
}

async function execute(
  state: RunState,
  frame: FlowFrame,
  step: StepIR,
  parentId: number,
  attempt: number,
): Promise<Attempt> {
  if (step.target.kind === 'workflow') {
    const target = findWorkflow(state.doc, step.target.workflowId);
    if (!target)
      return {
        failure: new RunFailure('unknown_workflow', `no workflow ${JSON.stringify(step.target.workflowId)}`, {
          workflowId: frame.wf.id,
          stepId: step.id,
        }),
      };
    const scope = scopeFor(state, frame);
    const args: Record<string, unknown> = {};
    for (const p of step.parameters) {
      const v = evaluateTemplate(p.value, scope);
      if (v !== undefined) args[p.name] = v;
    }
    try {
      const outputs = await runFlow(state, target, applyDefaults(target.inputSchema, args), parentId);
      return { subOutputs: outputs };
    } catch (err) {
      if (err instanceof RunFailure) return { failure: err };
      throw err;
    }
  }
  if (step.target.kind === 'tool') return executeTool(state, frame, step, step.target, { parentId, attempt });
  return executeHttp(state, frame, step, step.target, parentId, attempt);
}

/** A tool step's arguments: its body evaluated as a JSON object (none: no arguments). */
function toolArguments(state: RunState, frame: FlowFrame, step: StepIR): Record<string, unknown> {
  const invalid = (message: string): RunFailure =>
    new RunFailure('request_invalid', `step ${JSON.stringify(step.id)}: ${message}`, {
      workflowId: frame.wf.id,
      stepId: step.id,
    });
  if (!step.body) return {};
  const built = buildBody(
    { ...step.body, contentType: 'application/json' },
    undefined,
    scopeFor(state, frame),
    invalid,
  );
  if (built === undefined) return {};
  if (built.value === null || typeof built.value !== 'object' || Array.isArray(built.value))
    throw invalid('the arguments of a tool must be an object');
  return built.value as Record<string, unknown>;
}

const transportCodes: Record<TransportFailure, WorkflowErrorCode> = {
  timeout: 'upstream_timeout',
  unreachable: 'upstream_unreachable',
  too_large: 'response_too_large',
  cancelled: 'cancelled',
  blocked: 'upstream_blocked',
};

/** One call of a tool step's tool: the `action.run` entry names the tool (its reference as the URL template). */
async function executeTool(
  state: RunState,
  frame: FlowFrame,
  step: StepIR,
  target: ToolTargetIR,
  at: { parentId: number; attempt: number },
): Promise<Attempt> {
  const entry = startEntry(state, 'action.run', frame.wf.id, at.parentId, step.id);
  const where = { workflowId: frame.wf.id, stepId: step.id };
  const base = { urlTemplate: target.ref, attempt: at.attempt, tool: target.tool };
  let args: Record<string, unknown>;
  try {
    if (!state.deps.tool)
      throw new RunFailure('request_invalid', `step ${JSON.stringify(step.id)}: tools cannot be called here`, where);
    args = toolArguments(state, frame, step);
  } catch (err) {
    endEntry(state, entry, 'error', {
      ...base,
      method: 'tools/call',
      error: err instanceof Error ? err.message : String(err),
    });
    if (err instanceof ExpressionError)
      return { failure: new RunFailure('expression_error', `step ${JSON.stringify(step.id)}: ${err.message}`, where) };
    if (err instanceof RunFailure) return { failure: err };
    throw err;
  }
  const request: RequestState = { method: 'POST', url: target.ref, headers: {}, query: {}, path: {}, body: args };
  const call: ToolRequest = {
    ref: target.ref,
    tool: target.tool,
    arguments: args,
    timeoutMs: Math.max(1, Math.min(state.limits.requestTimeoutMs, state.deadline - state.clock.now())),
    maxResponseBytes: state.limits.maxResponseBytes,
    ...(target.source !== undefined ? { source: target.source } : {}),
    ...(state.deps.signal ? { signal: state.deps.signal } : {}),
  };
  try {
    const res = await state.deps.tool!(call);
    const failed = res.status >= 400 || res.errorText !== undefined;
    endEntry(state, entry, failed ? 'error' : 'ok', {
      ...base,
      method: res.method,
      url: res.url,
      status: res.status,
      responseBytes: res.size,
      stepKind: res.kind,
    });
    const attempt: Attempt = { request, response: { status: res.status, headers: {}, body: res.body } };
    if (res.errorText !== undefined) attempt.toolError = res.errorText.slice(0, 500);
    return attempt;
  } catch (err) {
    if (!(err instanceof HttpTransportError)) throw err;
    endEntry(state, entry, 'error', { ...base, method: 'tools/call', error: `${err.kind}: ${err.message}` });
    return {
      request,
      failure: new RunFailure(transportCodes[err.kind], `step ${JSON.stringify(step.id)}: ${err.message}`, where),
    };
  }
}

function buildRequest(
  state: RunState,
  frame: FlowFrame,
  step: StepIR,
  target: HttpTargetIR,
): { request: RequestState; body?: string } {
  const dialect: Dialect = state.doc.format;
  const scope = scopeFor(state, frame);
  const invalid = (message: string): RunFailure =>
    new RunFailure('request_invalid', `step ${JSON.stringify(step.id)}: ${message}`, {
      workflowId: frame.wf.id,
      stepId: step.id,
    });
  let url = stringify(evaluateString(target.url, scope));
  const query: Record<string, unknown> = {};
  const path: Record<string, unknown> = {};
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  const pairs: string[] = [];
  const encode = dialect === 'flower' ? encodeKeepingEscapes : encodeURIComponent;
  for (const p of step.parameters) {
    const v = evaluateTemplate(p.value, scope);
    switch (p.in) {
      case 'path':
        if (v === undefined || v === null || v === '')
          throw invalid(`the path parameter ${p.name} resolved to nothing`);
        path[p.name] = v;
        url = url.split(`{${p.name}}`).join(encodeURIComponent(stringify(v)));
        break;
      case 'query':
        if (v === undefined || v === null) break;
        query[p.name] = v;
        for (const item of Array.isArray(v) ? v : [v]) pairs.push(`${encode(p.name)}=${encode(stringify(item))}`);
        break;
      case 'header':
        if (v === undefined || v === null) break;
        headers[p.name.toLowerCase()] = stringify(v);
        break;
      case 'cookie':
        if (v === undefined || v === null) break;
        cookies.push(`${p.name}=${encodeURIComponent(stringify(v))}`);
        break;
      default:
        break;
    }
  }
  const unfilled = /\{([A-Za-z0-9_.-]+)\}/.exec(url.split('?')[0]!.replace(/^[a-z]+:\/\/[^/]*/i, ''));
  if (unfilled && target.operationId !== undefined) throw invalid(`the path parameter ${unfilled[1]} has no value`);
  if (pairs.length > 0) url += (url.includes('?') ? '&' : '?') + pairs.join('&');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(
      `${url} is not an absolute URL${target.source ? ` (configure a server URL for the source ${target.source})` : ''}`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw invalid(`${parsed.protocol} URLs are not allowed`);
  if (cookies.length > 0) headers.cookie = cookies.join('; ');
  headers.accept ??= 'application/json';
  const request: RequestState = { method: target.method, url: parsed.toString(), headers, query, path };
  let body: string | undefined;
  if (step.body) {
    const built = buildBody(step.body, headers['content-type'] ?? target.defaultContentType, scope, invalid);
    if (built) {
      body = built.text;
      request.body = built.value;
      headers['content-type'] ??= built.contentType;
    }
  }
  return body === undefined ? { request } : { request, body };
}

function buildBody(
  spec: RequestBodyIR,
  contentTypeHint: string | undefined,
  scope: Scope,
  invalid: (m: string) => RunFailure,
): { text: string; contentType: string; value: unknown } | undefined {
  let value: unknown;
  let structured: boolean;
  if (typeof spec.payload === 'string') {
    let template: unknown;
    try {
      template = JSON.parse(spec.payload);
    } catch {
      template = undefined;
    }
    if (template !== null && typeof template === 'object') {
      // A JSON text template: "{$inputs.x}" as a whole JSON string keeps the value's type.
      value = evaluateTemplate(template, scope);
      structured = true;
    } else {
      value = evaluateString(spec.payload, scope);
      structured = typeof value === 'object' && value !== null;
    }
  } else {
    value = evaluateTemplate(spec.payload, scope);
    structured = typeof value === 'object' && value !== null;
  }
  if (value === undefined) return undefined;
  if (spec.replacements.length > 0) {
    if (!structured) {
      if (typeof value === 'string') {
        try {
          value = JSON.parse(value);
          structured = true;
        } catch {
          throw invalid('payload replacements need a JSON payload');
        }
      } else throw invalid('payload replacements need a JSON payload');
    }
    for (const r of spec.replacements) value = setPointer(value, r.target, evaluateTemplate(r.value, scope));
  }
  const contentType = spec.contentType ?? contentTypeHint ?? (structured ? 'application/json' : 'text/plain');
  if (!structured) return { text: stringify(value), contentType, value };
  if (/^application\/x-www-form-urlencoded/i.test(contentType)) {
    if (Array.isArray(value)) throw invalid('a form-encoded body needs an object payload');
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined || v === null) continue;
      for (const item of Array.isArray(v) ? v : [v]) form.append(k, stringify(item));
    }
    return { text: form.toString(), contentType, value };
  }
  if (/^multipart\//i.test(contentType)) throw invalid('multipart request bodies are not supported');
  return { text: JSON.stringify(value), contentType, value };
}

async function executeHttp(
  state: RunState,
  frame: FlowFrame,
  step: StepIR,
  target: HttpTargetIR,
  parentId: number,
  attempt: number,
): Promise<Attempt> {
  const entry = startEntry(state, 'action.run', frame.wf.id, parentId, step.id);
  const urlTemplate = target.url;
  let built: { request: RequestState; body?: string };
  try {
    built = buildRequest(state, frame, step, target);
  } catch (err) {
    endEntry(state, entry, 'error', {
      method: target.method,
      urlTemplate,
      attempt,
      error: err instanceof Error ? err.message : String(err),
    });
    if (err instanceof ExpressionError)
      return {
        failure: new RunFailure('expression_error', `step ${JSON.stringify(step.id)}: ${err.message}`, {
          workflowId: frame.wf.id,
          stepId: step.id,
        }),
      };
    if (err instanceof RunFailure) return { failure: err };
    throw err;
  }
  const { request, body } = built;
  const remaining = state.deadline - state.clock.now();
  const req: HttpRequest = {
    method: request.method,
    url: request.url,
    urlTemplate,
    headers: request.headers,
    timeoutMs: Math.max(1, Math.min(state.limits.requestTimeoutMs, remaining)),
    maxResponseBytes: state.limits.maxResponseBytes,
  };
  if (body !== undefined) req.body = body;
  if (state.deps.signal) req.signal = state.deps.signal;
  if (target.source !== undefined) req.source = target.source;
  if (target.credentials && target.source) req.credentials = { ...target.credentials, source: target.source };
  const base = { method: request.method, urlTemplate, url: request.url, attempt };
  const where = { workflowId: frame.wf.id, stepId: step.id };
  try {
    const res = await state.deps.http(req);
    if (res.size > state.limits.maxResponseBytes) {
      endEntry(state, entry, 'error', {
        ...base,
        status: res.status,
        responseBytes: res.size,
        error: 'response too large',
      });
      return {
        request,
        failure: new RunFailure(
          'response_too_large',
          `step ${JSON.stringify(step.id)}: the response exceeded ${state.limits.maxResponseBytes} bytes`,
          where,
        ),
      };
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) headers[k.toLowerCase()] = v;
    const response: ResponseState = {
      status: res.status,
      headers,
      body: parseBody(res.body, headers['content-type'] ?? ''),
    };
    endEntry(state, entry, res.status < 400 ? 'ok' : 'error', { ...base, status: res.status, responseBytes: res.size });
    return { request, response };
  } catch (err) {
    if (!(err instanceof HttpTransportError)) throw err;
    endEntry(state, entry, 'error', { ...base, error: `${err.kind}: ${err.message}` });
    return {
      request,
      failure: new RunFailure(transportCodes[err.kind], `step ${JSON.stringify(step.id)}: ${err.message}`, where),
    };
  }
}
