import type {
  OAuthConnectLinkJob,
  OAuthConnectLinkResult,
  AuditEventInput,
  Principal,
  TaskGrant,
  ToolInvokeEvent,
  ToolInvokeJob,
} from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { RedisClient } from '@toolplane/redis';
import type { ExecutionRecordSink, InvocationClient, PublishedReplies, QuotaMeter } from '@toolplane/queue';
import type { CallerFacts } from '../pipeline/caller-facts.ts';
import type { EdgeCallContext, RequestFacts, SourceRequest, TraceFacts } from './call-context.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';
import type { ConfirmStates } from '../confirmation/confirm-state.ts';
import {
  DEFAULT_CONFIRM_TIMEOUT_MS,
  type ConfirmationAsker,
  type ConfirmSealing,
} from '../confirmation/confirmation.ts';
import type { SandboxLimits } from '../code-mode/code-sandbox.ts';
import type { ProgramSlots } from '../code-mode/code-slots.ts';
import type {
  CancelRegistry,
  ElicitationReplies,
  SessionFormElicitation,
  ResourceSubscriptions,
  SessionRelayCapabilities,
  SessionLogLevels,
  SessionUrlElicitation,
  UrlElicitationMode,
} from '../protocol/protocol-state.ts';
import type { ResultCache } from './result-cache.ts';
import type { ShadowEventBudget } from '../governance/shadow-decisions.ts';
import type { StreamCredential } from '../protocol/open-streams.ts';
import type { UpstreamCredentialSealer } from '../identity/upstream-auth.ts';
import type { EventsDeps } from '../events/subscriptions.ts';

/**
 * One `tools/call` as the edge runs it: what it needs (`ToolCallDeps`), the call itself (`ToolCall`, made once by
 * `toolCall`), read by tool-calls.ts (which tool) and the call pipeline (pipeline/: every stage, then the enqueue).
 */

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
  /** 2026-07-28 confirmation states, sealed under the deployment's key (absent: those calls cannot be confirmed). */
  confirmStates?: ConfirmStates;
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
  /** Which would-be refusals of log-only rules become audit events (absent: every one does). */
  shadowEvents?: ShadowEventBudget;
  /**
   * The workspace's published task grants (ADR 0108), read for a call whose token was redeemed from one; absent: such a
   * call's grant is unknown, and refused.
   */
  taskGrants?: (workspaceId: string) => Promise<readonly TaskGrant[]>;
  /** Quotas (ADR 0048): the meter, and whether a call is let through when Redis cannot be asked (default: refused). */
  quotas?: { meter: QuotaMeter; failOpen: boolean };
  /**
   * Where approval requests live (ADR 0049: the Redis every edge and the control plane share); absent: calls of tools
   * needing approval are refused, never let through.
   */
  approvals?: {
    readonly redis: RedisClient;
    readonly prefix: string;
    /** The most undecided requests one caller may have for one tool (default 20: `APPROVAL_MAX_PENDING`). */
    readonly maxPending?: number;
  };
  /**
   * Where sessions' labels live (ADR 0078: the Redis of approvals); absent: a call a session rule would judge is
   * refused (never let through unjudged), and a cached answer adds no labels.
   */
  sessions?: { readonly redis: RedisClient; readonly prefix: string };
  /** Results of cacheable tools (ADR 0067); absent: every call runs upstream. */
  resultCache?: ResultCache;
  /** The caps of a `run_code` program (code mode, ADR 0068); absent: the defaults. */
  codeLimits?: SandboxLimits;
  /** The `run_code` programs running on this edge, bounded in all and per caller; absent: the default bounds. */
  codePrograms?: ProgramSlots;
  /** MCP Events (ADR 0081): subscriptions and their streams; absent: `events/*` is not served. */
  events?: EventsDeps;
  /**
   * Why a caller no longer stands when a program it started makes its next inner call (`callerStanding`); absent:
   * not judged again.
   */
  standing?: (call: ToolCall) => Promise<string | undefined>;
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
  /** How the caller's person is asked to confirm a call of a tool marked `confirm`; absent: the client cannot ask. */
  readonly confirmation?: ConfirmationAsker | undefined;
  /** The HTTP request, for audit events only (client address, user agent). */
  readonly source?: SourceRequest | undefined;
  /** The calling API key's name, for audit events only. */
  readonly keyName?: string | undefined;
  /** The caller as the worker decides a workflow's steps on hosted servers' tools (job `stepCaller`; ADR 0045). */
  readonly stepCaller?: (() => NonNullable<ToolInvokeJob['stepCaller']>) | undefined;
  /** The call runs as a durable task (tasks.ts, ADR 0040): its job is the task's, and settles its record. */
  readonly task?: TaskBinding | undefined;
  /** What each rule knows of the caller, under the rule's name (the caller's, `pipeline/caller-facts.ts`). */
  readonly facts: CallerFacts;
  /** What the caller authenticated with (never the credential): judged again before a program's inner calls. */
  readonly credential?: StreamCredential | undefined;
  /** A call a `run_code` program made (code-mode/code-mode.ts): the program's invocation, on the job and the records. */
  readonly parentInvocationId?: string | undefined;
  /** Its invocation id, given by the `run_code` program that made it (named in the program's audit event). */
  readonly invocationId?: string | undefined;
  /** A 2026-07-28 `run_code` call: its round's multi-round fields, and what its inner calls carry (code-mode/code-rounds.ts). */
  readonly codeRounds?: CodeRounds | undefined;
}

/** A 2026-07-28 `run_code` call's round: what the client's retry carries, and how an inner call is asked with it. */
export interface CodeRounds {
  readonly requestState: unknown;
  readonly inputResponses: Record<string, unknown> | undefined;
  /**
   * What an inner call of `tool` carries: its confirmation asker and (external tools) multi-round fields, as a direct
   * call of the tool would with this request state and the round's input responses (`answers`), or with neither.
   */
  inner(tool: string, answers?: { requestState: unknown }): Pick<ToolCall, 'confirmation' | 'multiRound'>;
}

/** A task's part in its call: the task, and the invocation (job id, execution lease) of the round that runs now. */
export interface TaskBinding {
  readonly id: string;
  readonly invocationId: string;
  /**
   * The call is held for someone else's approval (ADR 0049): its job waits in the queue and its worker settles the
   * task; `statusMessage` says who must approve; `dueAt` (epoch ms) is when the job comes due if nobody decides. Nobody
   * on this edge waits for its reply.
   */
  readonly onHeld?: ((statusMessage: string, dueAt: number) => void) | undefined;
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
  codeRounds?: CodeRounds | undefined;
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
    confirmation: extras?.confirmation,
    source: ctx.source,
    keyName: caller.keyName,
    stepCaller: caller.stepCaller,
    task: extras?.task,
    facts: caller.facts,
    credential: caller.credential,
    codeRounds: extras?.codeRounds,
  };
}

/** How 2026-07-28 confirmation states are sealed on this edge (undefined: they are not). */
export function confirmSealing(deps: ToolCallDeps): ConfirmSealing | undefined {
  return deps.confirmStates
    ? { states: deps.confirmStates, ttlMs: deps.confirmTimeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS }
    : undefined;
}
