import { randomUUID } from 'node:crypto';
import {
  oauthConnectionView,
  queueNames,
  recordCaller,
  type OAuthConnectLinkJob,
  type OAuthConnectLinkResult,
  type AuditEventInput,
  type Principal,
  type ToolInvokeEvent,
  type ToolInvokeJob,
  type ToolOutcome,
  type ToolResultPayload,
} from '@toolplane/contracts';
import { AppError, toAppError, type ErrorCode } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import type { ExecutionRecordSink, InvocationClient, PublishedReplies } from '@toolplane/queue';
import { inputRequired, UrlElicitationRequiredError } from '@modelcontextprotocol/server';
import {
  attr,
  currentTraceIds,
  endSpan,
  MESSAGING_SYSTEM_BULLMQ,
  noopSpan,
  recordDenied,
  recordToolCall,
  SpanKind,
  startSpan,
  traceparentOf,
  tracingEnabled,
} from '@toolplane/telemetry';
import { conditionRefusal, type CallConditions } from './access-conditions.ts';
import { deniedToolCall } from './access.ts';
import type { EdgeCallContext, RequestFacts, SourceRequest, TraceFacts } from './call-context.ts';
import { describeArgumentErrors, type LoadedCatalog, type LoadedTool } from './catalogs.ts';
import {
  conditionRefusalEvent,
  confirmationEvent,
  confirmationPrompt,
  confirmedResult,
  type Confirmation,
  type ConfirmationAsker,
  type ConfirmationOutcome,
} from './confirmation.ts';
import type {
  CancelRegistry,
  ElicitationReplies,
  SessionFormElicitation,
  ResourceSubscriptions,
  SessionRelayCapabilities,
  SessionLogLevels,
  SessionUrlElicitation,
  UrlElicitationMode,
} from './protocol-state.ts';
import { neededConnections, structured, type NeededConnection } from './smart-mode.ts';
import type { UpstreamCredentialSealer } from './upstream-auth.ts';

export interface ToolCallDeps {
  invocations: InvocationClient;
  /** Calls refused on the edge (invalid arguments) leave a record too. */
  records: ExecutionRecordSink;
  /** Decisions the edge makes about calls (a person's confirmation, a condition's refusal) go to the audit trail. */
  audit?: Pick<ExecutionRecordSink<AuditEventInput>, 'add'>;
  timeoutMs: number;
  log: Logger;
  /** 2025-era `logging/setLevel` per session (absent: log levels are not remembered). */
  logLevels?: SessionLogLevels;
  /** 2025-era URL-mode elicitation declared per session (absent: not remembered; those callers get the tool error). */
  urlElicitations?: SessionUrlElicitation;
  /** 2025-era form-mode elicitation declared per session (absent: not remembered; confirmations are refused). */
  formElicitations?: SessionFormElicitation;
  /** 2025-era answers to the edge's `elicitation/create`, heard by any edge (absent: such sessions cannot be asked). */
  elicitationReplies?: ElicitationReplies;
  /** 2025-era sampling and elicitation declared per session, relayed to external MCP servers (absent: not relayed). */
  relayCapabilities?: SessionRelayCapabilities;
  /** Where a caller's answer to a relayed request goes (the worker waiting for it). */
  relayReplies?: PublishedReplies;
  /** Resource subscriptions of 2025-era sessions and the wishes the workers watch (absent: not offered). */
  subscriptions?: ResourceSubscriptions;
  /** How long a call waits for a person's answer (default 10 minutes): then it is cancelled. */
  confirmTimeoutMs?: number;
  /**
   * A person's connect link, made by a worker (`oauth.connect_link`) for SMART `connect` (absent: `connect` tells the
   * agent to call the tool, whose error carries a link).
   */
  connectLink?: (task: ConnectLinkRequest) => Promise<OAuthConnectLinkResult>;
  /** 2025-era `notifications/cancelled` across edges (absent: only disconnects cancel). */
  cancels?: CancelRegistry;
  /** While a caller that asked for progress waits, a progress notification at least this often (0: none). */
  progressIntervalMs?: number;
  /** What an external user has connected (markers, see `NeededConnection`); absent: SMART connection tools show none. */
  userConnections?: (workspaceId: string, userId: string) => Promise<ReadonlySet<string>>;
  /** What the worker recorded of a person's OAuth connection (`OAuthConnectionState` fields; no secret). */
  oauthConnectionState?: (connection: string) => Promise<Record<string, string>>;
  /** Seals a caller's `X-Upstream-Authorization` for the workers (absent: REQUEST_CREDENTIALS_PUBLIC_KEY_FILE unset, the header is refused). */
  sealUpstreamCredential?: UpstreamCredentialSealer;
}

/** What the edge names when it asks a worker for a person's connect link (the task's envelope aside). */
export type ConnectLinkRequest = Omit<OAuthConnectLinkJob, 'v' | 'taskId' | 'kind' | 'deadlineAt' | 'replyTo'>;

/** A call whose caller wants to hear from it while it runs: progress and/or relayed log messages. */
export interface LiveCall {
  progress: boolean;
  logLevel?: ToolInvokeJob['logLevel'];
  onEvent: (event: ToolInvokeEvent['event']) => void;
}

/**
 * One `tools/call`, built once (`toolCall`) where the edge's MCP layer reads it (the SDK's handler or the fast path),
 * never changed after, and passed whole to `callTool`: who calls, which catalog version, which tool with which
 * arguments, how it is cancelled, who hears its progress, and what it takes from the HTTP request.
 */
export interface ToolCall {
  readonly loaded: LoadedCatalog;
  readonly principal: Readonly<Principal>;
  readonly name: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  /** The JSON-RPC request's id. */
  readonly requestId: string | number;
  /** The trace context its span continues: the MCP message's `_meta`, else the HTTP request's. */
  readonly trace: TraceFacts;
  /** Aborts when the caller cancels or disconnects: the worker is told to stop. */
  readonly signal?: AbortSignal | undefined;
  readonly live?: LiveCall | undefined;
  readonly request: RequestFacts;
  /** 2026-07-28 callers of external MCP tools: their multi-round-trip fields and capabilities (job `multiRound`). */
  readonly multiRound?: ToolInvokeJob['multiRound'];
  /** 2025-era callers of external MCP tools: the sampling / elicitation their session declared (job `relay`). */
  readonly relay?: ToolInvokeJob['relay'];
  /**
   * Whether (and how) the caller declared URL-mode elicitation: asked only when the call comes back
   * `connection.required` with a connect link. Absent or undefined: the tool error carrying the link.
   */
  readonly urlElicitation?: (() => Promise<UrlElicitationMode | undefined>) | undefined;
  /** The caller's grants with a condition: checked after the arguments, before the enqueue. */
  readonly conditions?: CallConditions | undefined;
  /** How the caller's person is asked to confirm a call of a tool marked `confirm`; absent: the client cannot ask. */
  readonly confirmation?: ConfirmationAsker | undefined;
  /** The HTTP request, for audit events only (client address, user agent). */
  readonly source?: SourceRequest | undefined;
  /** The calling API key's name, for audit events only. */
  readonly keyName?: string | undefined;
  /** The caller as the worker decides a workflow's steps on hosted servers' tools (job `stepCaller`; ADR 0045). */
  readonly stepCaller?: ToolInvokeJob['stepCaller'];
  /** The call runs as a durable task (tasks.ts, ADR 0040): its job is the task's, and settles its record. */
  readonly task?: TaskBinding | undefined;
}

/** A task's part in its call: the task, and the invocation (job id, execution lease) of the round that runs now. */
export interface TaskBinding {
  readonly id: string;
  readonly invocationId: string;
}

/** What the MCP layer read of a `tools/call` message (`plainToolsCall` gives exactly this). */
export interface ToolCallMessage {
  readonly id: string | number;
  readonly name: string;
  readonly args: Record<string, unknown> | undefined;
}

/** What only the SDK's path knows of a call. */
export interface ToolCallExtras {
  live?: LiveCall | undefined;
  multiRound?: ToolInvokeJob['multiRound'];
  relay?: ToolInvokeJob['relay'];
  urlElicitation?: ToolCall['urlElicitation'];
  confirmation?: ConfirmationAsker | undefined;
  /** The message's own trace context (`_meta.traceparent`), which wins over the HTTP request's. */
  trace?: TraceFacts | undefined;
  task?: TaskBinding | undefined;
}

/** The one place a `ToolCall` is made: a message of the request `ctx` resolved, whole (every field set). */
export function toolCall(
  ctx: EdgeCallContext,
  message: ToolCallMessage,
  signal: AbortSignal | undefined,
  extras?: ToolCallExtras,
): ToolCall {
  const { caller } = ctx;
  return {
    loaded: caller.loaded,
    principal: caller.principal,
    name: message.name,
    arguments: message.args ?? {},
    requestId: message.id,
    trace: extras?.trace ?? ctx,
    signal,
    live: extras?.live,
    request: ctx.request,
    multiRound: extras?.multiRound,
    relay: extras?.relay,
    urlElicitation: extras?.urlElicitation,
    conditions: caller.conditions,
    confirmation: extras?.confirmation,
    source: ctx.source,
    keyName: caller.keyName,
    stepCaller: caller.stepCaller,
    task: extras?.task,
  };
}

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

function errorResult(text: string): ToolResultPayload {
  return { content: [{ type: 'text', text }], isError: true };
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
  // A tool the caller's access policies hide is refused (isError + execution record), not unknown.
  if (!tool) return deniedToolCall(deps.records, call, name) ?? throwUnknownTool(name);
  return runTool(deps, call, tool);
}

function invalidArguments(tool: LoadedTool): ToolResultPayload {
  return errorResult(
    `Invalid arguments for tool "${tool.def.name}": ${describeArgumentErrors(tool.validate.errors)}. Input schema: ${JSON.stringify(tool.def.inputSchema)}`,
  );
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
    case 'list_connections':
    case 'connect':
      if (principal.userId && principal.username) return userConnectionsTool(deps, call, meta.def.name);
      return sharedConnectionsTool(call, meta.def.name);
    default:
      throw new UnknownToolError(meta.def.name);
  }
}

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

/** A call refused on the edge: an `isError` result, and an execution record saying why. */
function rejectCall(
  deps: ToolCallDeps,
  call: ToolCall,
  invocationId: string,
  rejection: { errorCode: string; message: string; result: ToolResultPayload },
): ToolResultPayload {
  const { loaded, principal, name } = call;
  deps.records.add({
    v: 1,
    invocationId,
    workspaceId: principal.workspaceId,
    serverId: loaded.catalog.serverId,
    catalogVersion: loaded.catalog.version,
    tool: name,
    caller: recordCaller(principal),
    startedAt: new Date().toISOString(),
    durationMs: 0,
    outcome: 'rejected',
    errorCode: rejection.errorCode,
    message: rejection.message,
    steps: [],
    ...currentTraceIds(),
  });
  recordToolCall(loaded.catalog.serverId, name, 'rejected', 0);
  return rejection.result;
}

/**
 * Why the edge refuses a call before anything is enqueued (invalid arguments, a policy's condition, an upstream
 * credential the server does not take): the refusal's result, recorded; undefined when there is none.
 */
function edgeRefusal(deps: ToolCallDeps, call: ToolCall, tool: LoadedTool, invocationId: string) {
  const { loaded, arguments: input } = call;
  if (!tool.validate(input))
    return rejectCall(deps, call, invocationId, {
      errorCode: 'tool.invalid_arguments',
      message: describeArgumentErrors(tool.validate.errors),
      result: invalidArguments(tool),
    });
  // Grants with a condition: only callers some applicable grant has one for pay for it.
  const refused = call.conditions && conditionRefusal(call.conditions, loaded, tool, input);
  if (refused) {
    recordDenied('condition');
    deps.audit?.add(conditionRefusalEvent(call, tool.def.name, refusingPolicy(call.conditions!, loaded, tool, input)));
    return rejectCall(deps, call, invocationId, {
      errorCode: 'access.condition',
      message: refused,
      result: errorResult(refused),
    });
  }
  const refusal = call.request.upstreamAuthorization !== undefined ? upstreamRefusal(loaded, deps) : undefined;
  if (refusal)
    return rejectCall(deps, call, invocationId, {
      errorCode: refusal.code,
      message: refusal.message,
      result: errorResult(refusal.message),
    });
  return undefined;
}

/**
 * The first policy of the clause that refused a call (any of whose conditions would have granted it), for its audit
 * event; null when that clause has none. Only refused calls get here: a clause at a time is checked again.
 */
function refusingPolicy(
  conditions: CallConditions,
  loaded: LoadedCatalog,
  tool: LoadedTool,
  input: Readonly<Record<string, unknown>>,
): { id: string; name: string | null } | null {
  const clauses = conditions.rules.clauses(tool.def.name);
  const failed =
    clauses.length === 1
      ? clauses[0]
      : clauses.find((clause) => {
          const rules = { clauses: () => [clause] } as unknown as CallConditions['rules'];
          return conditionRefusal({ rules, caller: conditions.caller }, loaded, tool, input) !== undefined;
        });
  const first = failed?.[0];
  return first ? { id: first.id, name: first.name ?? null } : null;
}

/** What a call that was not confirmed becomes: its audit outcome, the code of its record and its tool error. */
interface Unconfirmed {
  readonly outcome: Exclude<ConfirmationOutcome, 'accepted'>;
  readonly errorCode: string;
  readonly text: (tool: string) => string;
}

const unconfirmed = {
  decline: {
    outcome: 'declined',
    errorCode: 'confirmation.declined',
    text: (tool) => `The person declined this call of "${tool}": it was not made, nothing was sent.`,
  },
  cancel: {
    outcome: 'cancelled',
    errorCode: 'confirmation.cancelled',
    text: (tool) =>
      `The confirmation of this call of "${tool}" was cancelled (or not answered in time): the call was not made, ` +
      'nothing was sent.',
  },
  unavailable: {
    outcome: 'refused',
    errorCode: 'confirmation.unavailable',
    text: (tool) =>
      `Tool "${tool}" needs a person's confirmation before each call, and this client cannot ask its user: it did ` +
      'not declare the MCP elicitation capability (form mode). Use a client that can ask its user, or ask an ' +
      'administrator of this MCP server to lift the confirmation of this tool. Nothing was sent.',
  },
} as const satisfies Record<string, Unconfirmed>;

/**
 * A tool marked `confirm` (ADR 0038): the person the client asks accepts before anything is enqueued. Undefined when
 * the call may go on; else its result: the 2026-07-28 `input_required` that asks, or the tool error of a call that
 * was declined, cancelled or could not be asked (with its execution record). Each decision is an audit event, its
 * arguments masked.
 */
async function confirmCall(
  deps: ToolCallDeps,
  call: ToolCall,
  tool: LoadedTool,
  invocationId: string,
): Promise<ToolOutcome | undefined> {
  const name = tool.def.name;
  const prompt = confirmationPrompt(call.loaded, tool, call.arguments);
  let asked: Confirmation;
  try {
    asked = call.confirmation ? await call.confirmation(prompt) : { kind: 'unavailable' };
  } catch (err) {
    deps.log.warn({ tool: name, err: String(err) }, 'a confirmation could not be asked');
    return rejectCall(deps, call, invocationId, {
      errorCode: 'confirmation.failed',
      message: 'the person could not be asked',
      result: errorResult(`The person could not be asked to confirm this call of "${name}": nothing was sent.`),
    });
  }
  if (asked.kind === 'continued') return undefined;
  if (asked.kind === 'ask') return asked.result;
  if (asked.kind === 'answered' && asked.action === 'accept') {
    deps.audit?.add(confirmationEvent(call, name, 'accepted', prompt.masked));
    return undefined;
  }
  const not: Unconfirmed =
    asked.kind !== 'answered'
      ? unconfirmed.unavailable
      : asked.action === 'decline'
        ? unconfirmed.decline
        : unconfirmed.cancel;
  deps.audit?.add(confirmationEvent(call, name, not.outcome, prompt.masked));
  return rejectCall(deps, call, invocationId, {
    errorCode: not.errorCode,
    message: not.text(name),
    result: errorResult(not.text(name)),
  });
}

/** Validates the arguments, enqueues the job (references only, sealed credentials) and awaits its result. */
async function runTool(deps: ToolCallDeps, call: ToolCall, tool: LoadedTool): Promise<ToolOutcome> {
  const { loaded, principal, arguments: input, signal, live, request } = call;
  const name = tool.def.name;
  const invocationId = call.task?.invocationId ?? randomUUID();
  const refused = edgeRefusal(deps, call, tool, invocationId);
  if (refused) return refused;
  // A tool that runs only as a task, called plainly: 2025-11-25 says -32601 (2026-07-28 callers got -32021 before).
  if (tool.taskOnly && !call.task) return taskRequired(name);
  // A person accepts first (nothing is enqueued before); a tool not marked `confirm` pays this check only.
  if (tool.confirm) {
    const unconfirmedResult = await confirmCall(deps, call, tool, invocationId);
    if (unconfirmedResult) return unconfirmedResult;
  }
  // Per-request authentication: the caller's own upstream credential, sealed for the workers (never in clear in Redis).
  const upstream = request.upstreamAuthorization;
  const upstreamAuthorization =
    upstream !== undefined && tool.upstreamCredential
      ? await deps.sealUpstreamCredential!(upstream, invocationId)
      : undefined;
  // The enqueue is a PRODUCER span (messaging conventions); its traceparent travels in the job, so the
  // worker's CONSUMER span is its child. While tracing is off: no span, no traceparent.
  const producer = tracingEnabled() ? startProducerSpan(invocationId, name) : noopSpan;
  // Workflow tools only: Config-* headers, and the OAuth token when the server opted in (never logged).
  const config = tool.workflow ? request.config : undefined;
  const callerToken = tool.workflow?.callerToken ? request.accessToken : undefined;
  try {
    const result = await deps.invocations.invoke(
      {
        v: 1,
        invocationId,
        serverId: loaded.catalog.serverId,
        catalogVersion: loaded.catalog.version,
        tool: name,
        arguments: input,
        principal,
        deadlineAt: Date.now() + deps.timeoutMs,
        replyTo: deps.invocations.edgeId,
        traceparent: traceparentOf(producer),
        ...(live?.progress ? { progress: true } : {}),
        ...(live?.logLevel ? { logLevel: live.logLevel } : {}),
        ...(config ? { config } : {}),
        ...(callerToken ? { callerToken } : {}),
        ...(tool.workflow?.hostedSteps && call.stepCaller ? { stepCaller: call.stepCaller } : {}),
        ...(upstreamAuthorization ? { upstreamAuthorization } : {}),
        ...(call.multiRound ? { multiRound: call.multiRound } : {}),
        ...(call.relay ? { relay: call.relay } : {}),
        serializedResult: true,
        ...(call.task ? { task: { id: call.task.id } } : {}),
      },
      signal,
      producer === noopSpan ? undefined : (err) => endSpan(producer, err),
      live?.onEvent,
    );
    if (result.ok) return tool.confirm ? confirmedResult(call, result.result) : result.result;
    if (result.error.connectUrl && call.urlElicitation)
      return (await connectElicitation(call, result.error.connectUrl)) ?? errorResult(result.error.message);
    return errorResult(result.error.message);
  } catch (err) {
    return failedCall(deps, call, invocationId, err);
  }
}

const taskRequired = (name: string): ToolResultPayload => ({
  content: [],
  protocolError: {
    code: -32601,
    message: `The tool "${name}" runs only as a task: call it as one (the Tasks extension)`,
  },
});

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

/** Why a call carrying `X-Upstream-Authorization` is refused, if it is. */
function upstreamRefusal(loaded: LoadedCatalog, deps: ToolCallDeps): { code: ErrorCode; message: string } | undefined {
  if (!loaded.catalog.perRequestAuth)
    return {
      code: 'auth.upstream_authorization_refused',
      message:
        'This MCP server does not accept the X-Upstream-Authorization header: per-request authentication is off ' +
        `(perRequestAuth). Call without the header, or enable it with PATCH /api/v1/mcp_manager/${loaded.catalog.serverId} ` +
        '{ "perRequestAuth": true }.',
    };
  if (!deps.sealUpstreamCredential)
    return {
      code: 'auth.upstream_authorization_unavailable',
      message:
        'This deployment cannot carry per-request credentials (the edge has no REQUEST_CREDENTIALS_PUBLIC_KEY_FILE): ' +
        'call without the X-Upstream-Authorization header.',
    };
  return undefined;
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
