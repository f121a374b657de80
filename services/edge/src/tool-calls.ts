import { randomUUID } from 'node:crypto';
import {
  oauthConnectionView,
  queueNames,
  runCodeTool,
  type Principal,
  type ToolInvokeJob,
  type ToolOutcome,
  type ToolResultPayload,
} from '@toolplane/contracts';
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
import { deniedToolCall } from './access.ts';
import {
  approvalExecuted,
  approveCall,
  giveBackApproval,
  recordHeld,
  releaseHeld,
  type HeldRequest,
} from './approvals.ts';
import { withArgumentFindings } from './argument-guardrails.ts';
import { chargeQuotas, checkCall, errorResult, GuardedCall, invalidArguments } from './call-checks.ts';
import { confirmSealing, type ToolCall, type ToolCallDeps } from './call-types.ts';
import type { LoadedTool } from './catalogs.ts';
import { runCode } from './code-mode.ts';
import { confirmedResult } from './confirmation.ts';
import { policyApprovalRule } from './policy-approvals.ts';
import { recordCachedCall, type ResultCacheSettings } from './result-cache.ts';
import { jobCharge, type QuotaCharge } from './quotas.ts';
import { neededConnections, structured, type NeededConnection } from './smart-mode.ts';

export type {
  ConnectLinkRequest,
  LiveCall,
  TaskBinding,
  ToolCall,
  ToolCallDeps,
  ToolCallMessage,
} from './call-types.ts';
export { confirmSealing, toolCall } from './call-types.ts';

/** Thrown for calls naming a tool the server does not expose (a JSON-RPC error, not a tool result). */
export class UnknownToolError extends Error {
  readonly tool: string;
  constructor(tool: string) {
    super(`Unknown tool: ${tool}`);
    this.tool = tool;
  }
}

function throwUnknownTool(name: string): never {
  throw new UnknownToolError(name);
}

/**
 * `tools/call` on the edge: validate the arguments against the tool's schema, enqueue one job with
 * references only, await the worker's result and map failures to `isError` results.
 */
export async function callTool(deps: ToolCallDeps, call: ToolCall): Promise<ToolOutcome> {
  const { loaded, name } = call;
  if (loaded.catalog.mode === 'SMART') {
    const meta = loaded.meta.get(name);
    if (!meta) throw new UnknownToolError(name);
    return callMetaTool(deps, call, meta);
  }
  const tool = loaded.tools.get(name);
  if (!tool && name === runCodeTool.name && loaded.catalog.codeMode) return runCode(deps, call, runner(deps));
  // A tool the caller's access policies hide is refused (isError + execution record), not unknown.
  if (!tool) return deniedToolCall(deps.records, call, name) ?? throwUnknownTool(name);
  return runTool(deps, call, tool);
}

const unknownTool = (name: string) =>
  errorResult(`No tool named "${name}" in this catalog. Use search_tools to find the right name.`);

/** SMART mode: search, describe and connections are answered here; execute runs the target tool. */
async function callMetaTool(deps: ToolCallDeps, call: ToolCall, meta: LoadedTool): Promise<ToolOutcome> {
  const { loaded, principal, arguments: input } = call;
  if (!meta.validate(input)) return invalidArguments(meta);
  switch (meta.def.name) {
    case 'search_tools': {
      const results = loaded.search!.search(String(input.query), typeof input.limit === 'number' ? input.limit : 5);
      return structured({ results });
    }
    case 'describe_tool': {
      const target = loaded.tools.get(String(input.name));
      if (!target)
        return deniedToolCall(deps.records, call, String(input.name), false) ?? unknownTool(String(input.name));
      const source = loaded.catalog.tools.find((t) => t.tool.name === target.def.name)?.source;
      return structured({ ...target.def, ...(source ? { source } : {}) });
    }
    case 'execute_tool': {
      const target = loaded.tools.get(String(input.name));
      if (!target) return deniedToolCall(deps.records, call, String(input.name)) ?? unknownTool(String(input.name));
      const args = (input.arguments ?? {}) as Record<string, unknown>;
      // The target runs as a call of its own, made from the meta call (a new value; the meta call is not changed).
      return runTool(deps, { ...call, name: target.def.name, arguments: args }, target);
    }
    case 'run_code':
      return runCode(deps, call, runner(deps));
    case 'list_connections':
    case 'connect':
      if (principal.userId && principal.username) return userConnectionsTool(deps, call, meta.def.name);
      return sharedConnectionsTool(call, meta.def.name);
    default:
      throw new UnknownToolError(meta.def.name);
  }
}

/** How a `run_code` program's inner calls run: as any call of the tool. */
const runner = (deps: ToolCallDeps) => (call: ToolCall, tool: LoadedTool) => runTool(deps, call, tool);

/** SMART connections without an external user: the calls run with the server's shared credentials. */
function sharedConnectionsTool(call: ToolCall, which: string): ToolResultPayload {
  if (which === 'connect')
    return structured({
      tool: String(call.arguments.tool),
      message:
        'These calls run with the server’s shared credentials: there is nothing to connect for you. Connections are ' +
        'per end user: the application names the user with the x-username header, then each user connects their own accounts.',
    });
  const connections = new Map<string, { connector: string; instance: string; tools: number }>();
  for (const t of call.loaded.catalog.tools) {
    if (!t.source) continue;
    const key = `${t.source.connector}/${t.source.instance}`;
    const c = connections.get(key) ?? { connector: t.source.connector, instance: t.source.instance, tools: 0 };
    c.tools++;
    connections.set(key, c);
  }
  return structured({
    connections: [...connections.values()],
    howToConnect:
      'To connect another account, an administrator creates a connector instance with its credentials: ' +
      'POST /api/v1/connector_instances { connector_id, name, credentials }. Its tools then appear in search_tools.',
  });
}

/** What an external user has connected, as SMART's connection tools read it (each OAuth account looked up once). */
interface UserConnections {
  readonly have: ReadonlySet<string>;
  /** An OAuth account's status as the worker recorded it (undefined unless it is an account the user connected). */
  accountOf(n: NeededConnection): Promise<ReturnType<typeof oauthConnectionView> | undefined>;
  /** The needs not met (in order): an account that needs re-authorisation counts as missing. */
  missingOf(needs: NeededConnection[]): Promise<NeededConnection[]>;
}

async function userConnections(deps: ToolCallDeps, principal: Readonly<Principal>): Promise<UserConnections> {
  const userId = principal.userId!;
  const have = (await deps.userConnections?.(principal.workspaceId, userId)) ?? new Set<string>();
  const accounts = new Map<string, ReturnType<typeof oauthConnectionView>>();
  const accountOf = async (n: NeededConnection) => {
    if (n.kind !== 'oauth_account' || !have.has(n.marker)) return undefined;
    let known = accounts.get(n.marker);
    if (!known) {
      known = oauthConnectionView(await deps.oauthConnectionState?.(n.connection!.replace('{user}', userId)));
      accounts.set(n.marker, known);
    }
    return known;
  };
  const connected = async (n: NeededConnection) =>
    have.has(n.marker) && (n.kind !== 'oauth_account' || (await accountOf(n))?.status === 'connected');
  const missingOf = async (needs: NeededConnection[]) => {
    const missing: NeededConnection[] = [];
    for (const n of needs) if (!(await connected(n))) missing.push(n);
    return missing;
  };
  return { have, accountOf, missingOf };
}

const managementHow =
  'Your application (not this conversation) sends this request to the Toolplane management API with its API key; ' +
  'never ask the user to type a secret here.';

/**
 * SMART "manage connections" for an external user: `list_connections` shows the user's own
 * connections and the tools that lack one; `connect` gives the exact management API call that adds
 * what a tool lacks (placeholders only: no secret ever travels through the model), and for a person's
 * own account a connect link made by a worker (the person signs in at the provider).
 */
async function userConnectionsTool(deps: ToolCallDeps, call: ToolCall, which: string): Promise<ToolResultPayload> {
  const connections = await userConnections(deps, call.principal);
  return which === 'connect' ? connectTool(deps, call, connections) : listConnectionsTool(call, connections);
}

async function connectTool(
  deps: ToolCallDeps,
  call: ToolCall,
  connections: UserConnections,
): Promise<ToolResultPayload> {
  const { loaded } = call;
  const username = call.principal.username!;
  const name = String(call.arguments.tool);
  const tool = loaded.catalog.tools.find((t) => t.tool.name === name);
  if (!tool) return deniedToolCall(deps.records, call, name, false) ?? unknownTool(name);
  const missing = await connections.missingOf(neededConnections(tool, loaded.catalog.serverId));
  if (missing.length === 0)
    return structured({ user: username, tool: name, connected: true, message: `"${name}" is ready for ${username}.` });
  const calls = missing.filter((n) => n.call).map((n) => ({ kind: n.kind, id: n.id, ...n.call!(username) }));
  const account = missing.find((n) => n.kind === 'oauth_account');
  const link = account ? await accountLink(deps, call, name) : undefined;
  const linkHow = (link: string) =>
    `Give ${username} this link to open in a browser (it works once, for 10 minutes; whoever opens it first connects ` +
    `their account as ${username}, so give it to them only), then call ${name} again: ${link}`;
  const accountHow = () =>
    `Call ${name} for ${username}: while their account is not connected, its error carries a link for them to open ` +
    '(it works once, for 10 minutes). They sign in at the provider; the agent never sees their tokens.';
  return structured({
    user: username,
    tool: name,
    connected: false,
    ...(calls.length > 0 ? { calls } : {}),
    ...(account
      ? {
          account: {
            kind: account.kind,
            id: account.id,
            status: (await connections.accountOf(account))?.status ?? 'missing',
          },
        }
      : {}),
    ...(link ? { link } : {}),
    message: [calls.length > 0 ? managementHow : '', account ? (link ? linkHow(link) : accountHow()) : '']
      .filter(Boolean)
      .join(' '),
  });
}

async function listConnectionsTool(call: ToolCall, connections: UserConnections): Promise<ToolResultPayload> {
  const { have, accountOf, missingOf } = connections;
  const serverId = call.loaded.catalog.serverId;
  const byMarker = new Map<string, { kind: string; id: string; tools: string[]; [k: string]: unknown }>();
  const lacking: { tool: string; needs: { kind: string; id: string; status?: string }[] }[] = [];
  for (const t of call.loaded.catalog.tools) {
    const needs = neededConnections(t, serverId);
    const missing = await missingOf(needs);
    for (const n of needs.filter((x) => have.has(x.marker))) {
      const account = await accountOf(n);
      const c = byMarker.get(n.marker) ?? { kind: n.kind, id: n.id, ...(account ?? {}), tools: [] };
      c.tools.push(t.tool.name);
      byMarker.set(n.marker, c);
    }
    if (missing.length > 0)
      lacking.push({
        tool: t.tool.name,
        needs: await Promise.all(
          missing.map(async (x) => {
            const account = await accountOf(x);
            return { kind: x.kind, id: x.id, ...(account ? { status: account.status } : {}) };
          }),
        ),
      });
  }
  return structured({
    user: call.principal.username!,
    connections: [...byMarker.values()],
    toolsWithoutConnection: lacking,
    howToConnect: `Call connect with a tool's name for the exact request that adds its connection. ${managementHow}`,
  });
}

/**
 * A new connect link for the person's own account of `tool`, made by a worker (only workers read the OAuth app's
 * credentials a link names); undefined when none can be made (the tool error of a call then carries one, or says
 * why not).
 */
async function accountLink(deps: ToolCallDeps, call: ToolCall, tool: string): Promise<string | undefined> {
  if (!deps.connectLink) return undefined;
  const { principal, loaded } = call;
  try {
    const r = await deps.connectLink({
      workspaceId: principal.workspaceId,
      userId: principal.userId!,
      username: principal.username!,
      serverId: loaded.catalog.serverId,
      catalogVersion: loaded.catalog.version,
      tool,
    });
    if (!r.url) deps.log.debug({ tool, reason: r.error }, 'no connect link for SMART connect');
    return r.url;
  } catch (err) {
    deps.log.warn({ tool, code: toAppError(err).code }, 'connect link not made for SMART connect');
    return undefined;
  }
}

/** Validates the arguments, enqueues the job (references only, sealed credentials) and awaits its result. */
async function runTool(deps: ToolCallDeps, sent: ToolCall, tool: LoadedTool): Promise<ToolOutcome> {
  const invocationId = sent.task?.invocationId ?? sent.invocationId ?? randomUUID();
  // Every check of the call, once, before anything is enqueued (call-checks.ts); a promise only when a person is asked.
  const checked = checkCall(deps, sent, tool, invocationId);
  const refused = checked instanceof Promise ? await checked : checked;
  // A guardrail redacted or flagged its arguments: that call runs, as the later steps see it.
  let call = sent;
  if (refused instanceof GuardedCall) call = refused.call;
  else if (refused) return refused;
  // Someone else approves each call of this tool, or each call an access policy requires it for (ADR 0049): the
  // approval of exactly this call is spent, or it stops.
  const rule = tool.approval ?? policyApprovalRule(call, tool);
  const approved = rule ? await approveCall(deps, call, { tool, rule }, invocationId) : undefined;
  if (approved && 'refused' in approved) return approved.refused;
  if (approved && 'held' in approved) return holdCall(deps, call, tool, { invocationId, held: approved.held });
  const spent = approved?.spent;
  // Its results are cached (ADR 0067): not for a call someone approves, a task's, a multi-round retry, or one sent
  // with the caller's own upstream credential (which the key does not name).
  const ownCredential = tool.upstreamCredential && call.request.upstreamAuthorization !== undefined;
  const cacheable = deps.resultCache && !rule && !call.task && !call.multiRound && !ownCredential;
  const cache = tool.cache && cacheable ? tool.cache : undefined;
  // A spent approval is executed once its job is in the queue; a job the queue could not take ran nothing: given back.
  const settleApproval = spent
    ? (added: boolean) => (added ? approvalExecuted(deps, call, tool.def.name, spent) : giveBackApproval(deps, spent))
    : undefined;
  if (!call.quotas) return enqueueTool(deps, call, tool, { invocationId, onQueued: settleApproval, cache });
  // Quotas apply to this caller: the last check charges them, and the charge ends with the call (ADR 0048).
  const charged = await chargeQuotas(deps, call, tool, invocationId);
  if ('refused' in charged) {
    if (spent) giveBackApproval(deps, spent);
    return charged.refused;
  }
  const { charge } = charged;
  if (!charge) return enqueueTool(deps, call, tool, { invocationId, onQueued: settleApproval, cache });
  let outcome: ToolOutcome | undefined;
  let added: boolean | undefined;
  try {
    const onQueued = (queued: boolean) => {
      added = queued;
      settleApproval?.(queued);
    };
    return (outcome = await enqueueTool(deps, call, tool, { invocationId, charge, onQueued, cache }));
  } finally {
    // Nothing ran when the job could not be added to the queue, or in an external server's `input_required` round:
    // the units come back (a retry is charged). Any other outcome, unknown ones too, stays charged. Calls in flight
    // end with the job: its worker releases them when it ends (however the caller went away); the edge only when no
    // job was queued (not added, a cached answer).
    const windowed = added === false || (outcome as ToolResultPayload | undefined)?.resultType === 'input_required';
    deps
      .quotas!.meter.release(charge, { windowed, inFlight: added !== true })
      .catch((err: unknown) => deps.log.warn({ invocationId, err: String(err) }, 'a quota charge was not released'));
  }
}

/** How a call that passed every check is enqueued: its id, its quota charge, who hears it was queued, its cache. */
interface EnqueueOptions {
  invocationId: string;
  charge?: QuotaCharge;
  onQueued?: (added: boolean) => void;
  cache?: ResultCacheSettings | undefined;
}

/**
 * Enqueues the job of a call that passed every check (references only, sealed credentials) and awaits its result; a
 * cacheable tool's call is answered from the cache when it can be (charged as any call, recorded as cached).
 */
async function enqueueTool(
  deps: ToolCallDeps,
  call: ToolCall,
  tool: LoadedTool,
  { invocationId, charge, onQueued, cache }: EnqueueOptions,
): Promise<ToolOutcome> {
  const { signal, live } = call;
  const done = (outcome: ToolOutcome) => (call.argumentFindings ? withArgumentFindings(call, outcome) : outcome);
  let hint: ToolInvokeJob['cache'];
  if (cache) {
    const started = performance.now();
    const found = await deps.resultCache!.lookUp(cacheFacts(call, tool, cache), cache);
    if ('hit' in found) {
      const { catalog } = call.loaded;
      const facts = {
        principal: call.principal,
        serverId: catalog.serverId,
        catalogVersion: catalog.version,
        parentInvocationId: call.parentInvocationId,
      };
      recordCachedCall(
        deps.records,
        { ...facts, tool: tool.def.name, ...(tool.cost !== undefined ? { cost: tool.cost } : {}) },
        invocationId,
        performance.now() - started,
      );
      return done(tool.confirm ? await confirmedResult(call, found.hit, confirmSealing(deps)) : found.hit);
    }
    hint = found.hint;
  }
  const quotaCharge = charge && jobCharge(charge);
  const job = await jobOf(deps, call, tool, { invocationId, quotaCharge, deadlineAt: Date.now() + deps.timeoutMs });
  if (hint) job.cache = hint;
  // The enqueue is a PRODUCER span (messaging conventions); its traceparent travels in the job, so the
  // worker's CONSUMER span is its child. While tracing is off: no span, no traceparent.
  const producer = tracingEnabled() ? startProducerSpan(invocationId, tool.def.name) : noopSpan;
  job.traceparent = traceparentOf(producer);
  try {
    const result = await deps.invocations.invoke(
      job,
      signal,
      producer === noopSpan && !onQueued ? undefined : enqueued(producer, onQueued),
      live?.onEvent,
    );
    if (result.ok)
      return done(tool.confirm ? await confirmedResult(call, result.result, confirmSealing(deps)) : result.result);
    if (result.error.connectUrl && call.urlElicitation)
      return (await connectElicitation(call, result.error.connectUrl)) ?? errorResult(result.error.message);
    return errorResult(result.error.message);
  } catch (err) {
    return failedCall(deps, call, invocationId, err);
  }
}

/** What names a call's cached result: the arguments as sent (after guardrails on arguments), the caller. */
function cacheFacts(call: ToolCall, tool: LoadedTool, cache: ResultCacheSettings) {
  const { catalog } = call.loaded;
  return {
    principal: call.principal,
    serverId: catalog.serverId,
    catalogVersion: catalog.version,
    tool: tool.def.name,
    arguments: call.arguments,
    scope: cache.scope,
  };
}

/** The job of a call that passed every check: references only, the caller's own upstream credential sealed. */
async function jobOf(
  deps: ToolCallDeps,
  call: ToolCall,
  tool: LoadedTool,
  facts: { invocationId: string; quotaCharge?: ToolInvokeJob['quotaCharge']; deadlineAt: number },
): Promise<ToolInvokeJob> {
  const { loaded, principal, arguments: input, live, request } = call;
  const { invocationId, quotaCharge, deadlineAt } = facts;
  // Per-request authentication: the caller's own upstream credential, sealed for the workers (never in clear in Redis).
  const upstream = request.upstreamAuthorization;
  const upstreamAuthorization =
    upstream !== undefined && tool.upstreamCredential
      ? await deps.sealUpstreamCredential!(upstream, invocationId)
      : undefined;
  // Workflow tools only: Config-* headers, and the OAuth token when the server opted in (never logged).
  const config = tool.workflow ? request.config : undefined;
  const callerToken = tool.workflow?.callerToken ? request.accessToken : undefined;
  return {
    v: 1,
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
    ...(tool.workflow?.hostedSteps && call.stepCaller ? { stepCaller: call.stepCaller() } : {}),
    ...(upstreamAuthorization ? { upstreamAuthorization } : {}),
    ...(call.multiRound ? { multiRound: call.multiRound } : {}),
    ...(call.relay ? { relay: call.relay } : {}),
    serializedResult: true,
    ...(call.task ? { task: { id: call.task.id } } : {}),
    ...(quotaCharge ? { quotaCharge } : {}),
    ...(tool.cost !== undefined ? { cost: tool.cost } : {}),
    ...(call.argumentFindings ? { argumentFindings: [...call.argumentFindings] } : {}),
  };
}

/** A held job is due a little after its request's expiry, so that its worker finds the request expired. */
const HOLD_SLACK_MS = 1000;

/**
 * A task's call held for someone else's approval (ADR 0049): charged as any call (its units go back if it never runs),
 * then queued as a job delayed until the request's expiry, which the request's decision promotes; the job itself
 * spends the grant when it starts (the worker), so the call runs once even if no edge is left. The task says who must
 * approve meanwhile; its worker settles it. Nothing here waits for the reply.
 */
async function holdCall(
  deps: ToolCallDeps,
  call: ToolCall,
  tool: LoadedTool,
  { invocationId, held }: { invocationId: string; held: HeldRequest },
): Promise<ToolOutcome> {
  let charge: QuotaCharge | undefined;
  if (call.quotas) {
    const charged = await chargeQuotas(deps, call, tool, invocationId);
    if ('refused' in charged) {
      await releaseHeld(deps, held, invocationId);
      return charged.refused;
    }
    charge = charged.charge;
  }
  const dueAt = held.expiresAt + HOLD_SLACK_MS;
  try {
    const quotaCharge = charge && jobCharge(charge, true);
    const job = await jobOf(deps, call, tool, { invocationId, quotaCharge, deadlineAt: dueAt + deps.timeoutMs });
    const approval = { key: held.key, id: held.id, timeoutMs: deps.timeoutMs };
    const queuePrefix = await deps.invocations.hold({ ...job, approval }, dueAt - Date.now());
    // Not written (Redis failing now): the job is still due at the expiry, and reads the decision then.
    await recordHeld(deps, held, { invocationId, queuePrefix }).catch((err: unknown) =>
      deps.log.warn({ approval: held.id, err: String(err) }, 'a held call is due at its expiry only'),
    );
  } catch (err) {
    if (charge) await deps.quotas!.meter.release(charge, { windowed: true, inFlight: true }).catch(() => undefined);
    await releaseHeld(deps, held, invocationId);
    return failedCall(deps, call, invocationId, err);
  }
  // Calls in flight are not held while the approvers decide; the windowed units travel with the job.
  if (charge) await deps.quotas!.meter.release(charge, { windowed: false, inFlight: true }).catch(() => undefined);
  call.task?.onHeld?.(held.statusMessage, dueAt);
  return errorResult(held.statusMessage);
}

/** When the job was added, or could not be: the producer span ends, and `onQueued` learns which. */
function enqueued(producer: Span, onQueued: ((added: boolean) => void) | undefined) {
  return (err?: unknown) => {
    if (producer !== noopSpan) endSpan(producer, err);
    onQueued?.(err === undefined);
  };
}

/** A call that got no result (timed out, cancelled, Redis or the queue failing): its `isError` result. */
function failedCall(deps: ToolCallDeps, call: ToolCall, invocationId: string, err: unknown): ToolResultPayload {
  const e: AppError = toAppError(err);
  deps.log.warn({ invocationId, tool: call.name, code: e.code }, 'tool call failed');
  // No answer by the deadline: the call may have run (or still be running) upstream.
  if (e.code === 'tool.timeout' && !call.signal?.aborted)
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
async function connectElicitation(call: ToolCall, url: string): Promise<ToolResultPayload | undefined> {
  const mode = await call.urlElicitation!().catch(() => undefined);
  if (!mode) return undefined;
  const message =
    `"${call.name}" acts on ${call.principal.username ?? 'a person'}'s own account at its API: open this link to ` +
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
