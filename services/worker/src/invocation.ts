import {
  recordCaller,
  type ExecutionRecord,
  type ExecutionStep,
  type ExecutionTreeNode,
  type ToolInvokeEvent,
  type AuditEventInput,
  type CallRules,
  type ToolInvokeJob,
  type ToolInvokeResult,
  type ToolResultPayload,
  type ExecutionPlan,
  type ServerIdentitySettings,
} from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { executionRecordId } from '@toolplane/queue';
import type { Authorizer } from './auth.ts';
import type { DebugSessions } from './debug-sessions.ts';
import { isResendable, type ExecutionLeases } from './execution-lease.ts';
import type { PlanCache } from './catalog-cache.ts';
import type { HttpLimits } from './http-operation.ts';
import type { RateLimits } from './rate-limits.ts';
import type { ArgumentSealer } from './record-arguments.ts';
import type { DelegationBudget, ExecutionRecordSink, PublishedReplies, QuotaMeter } from '@toolplane/queue';
import type { GuardrailDeps } from './guardrails.ts';
import type { RequestCredentialOpener } from './request-credentials.ts';
import type { SecretResolver } from './secret-resolver.ts';
import type { ConnectLinks } from './connect-links.ts';
import type { UserTokenKeeper } from './user-tokens.ts';
import type { WorkspaceAccessReader } from './step-access.ts';
import type { ArgumentGuardrailsReader } from './step-checks.ts';
import type { SessionStore } from './session-labels.ts';
import type { TwinStore } from './twin/store.ts';
import type { ReceiptSigner } from '@toolplane/receipts';

/**
 * One invocation as the worker's steps see it (its job, clock, cancellation and record), the deps every step takes,
 * and the small pieces they share (processor.ts runs it; tool-http.ts, tool-mcp.ts and tool-workflow.ts are the kinds
 * of tool; abandoned-jobs.ts the jobs whose worker stopped).
 */

/** What the guardrails of a job need of the processor's deps (made once per deps). */
const guardDepsOf = new WeakMap<ProcessorDeps, GuardrailDeps>();
export const guardDeps = (deps: ProcessorDeps): GuardrailDeps => {
  let made = guardDepsOf.get(deps);
  if (!made) {
    made = { plans: deps.plans, maxScanBytes: deps.maxScanBytes ?? 1024 * 1024, log: deps.log };
    guardDepsOf.set(deps, made);
  }
  return made;
};

/** A job that ran nothing gives its quota charge back; a failure to is logged (the units stay charged). */
export async function giveBack(deps: ProcessorDeps, job: ToolInvokeJob): Promise<void> {
  try {
    await deps.quotaRefunds?.(job.rules!.quota!);
  } catch (err) {
    deps.log.warn({ invocationId: job.invocationId, err: String(err) }, 'a quota charge was not given back');
  }
}

export interface ProcessorDeps {
  plans: PlanCache;
  secrets: SecretResolver;
  rateLimits: RateLimits;
  authorizer: Authorizer;
  limits: HttpLimits;
  log: Logger;
  records: ExecutionRecordSink;
  debug: DebugSessions;
  running: RunningInvocations;
  /** Execution leases: at most once upstream across worker crashes (execution-lease.ts). */
  leases: ExecutionLeases;
  /** A server's settings for calls made for external users (absent: no fallback to shared credentials). */
  identitySettings?: (serverId: string) => Promise<ServerIdentitySettings>;
  /** An external user's declared attributes (`$current_user.<name>` in workflows; absent: none). */
  userAttributes?: (workspaceId: string, userId: string) => Promise<Record<string, string>>;
  /** Opens a caller's sealed `X-Upstream-Authorization` (absent: REQUEST_CREDENTIALS_PRIVATE_KEY_FILE unset, such calls fail). */
  openRequestCredential?: RequestCredentialOpener;
  /** People's OAuth tokens (`oauth2_authorization_code` tools; absent: such calls fail). ADR 0027. */
  userTokens?: UserTokenKeeper;
  /** Connect links for people without a usable connection (absent: they are told so without a link). */
  connectLinks?: ConnectLinks;
  /** Callers' answers to requests external MCP servers send during calls (absent: nothing is relayed). */
  relayReplies?: PublishedReplies;
  /** Gives a job's quota charge back (absent: charges stay; ADR 0048). */
  quotaRefunds?: (charge: NonNullable<CallRules['quota']>) => Promise<void>;
  /** A workspace's published access policies, for workflow steps on hosted servers' tools (absent: they fail). */
  workspaceAccess?: WorkspaceAccessReader;
  /** Charges a workflow step's tool's quotas (step-checks.ts, ADR 0048; absent: a step under a quota is refused). */
  quotaMeter?: QuotaMeter;
  /** A narrowed token's call counters, for workflow steps of its calls (step-delegation.ts, ADR 0084). */
  delegationCalls?: DelegationBudget;
  /** Why a workflow's caller no longer stands, judged before each hosted step (task-results.ts, ADR 0090). */
  standing?: (
    job: Pick<ToolInvokeJob, 'principal' | 'callerStanding'>,
    serverId: string,
  ) => Promise<string | undefined>;
  /** A hosted server's guardrails on arguments, for workflow steps on its tools (step-checks.ts, ADR 0050). */
  argumentGuardrails?: ArgumentGuardrailsReader;
  /** Where workflow steps' audit events go (step-checks.ts: log-only rules' would-be refusals, quota alerts). */
  audit?: { add(event: AuditEventInput): void };
  /** Bytes of a result's text above which a guardrail without its own limit blocks it (absent: 1 MiB). */
  maxScanBytes?: number;
  /** Sessions' labels (ADR 0078; absent: a job with `rules.session` fails closed when its result brings some). */
  sessions?: SessionStore;
  /** Stores a cacheable call's result (`SET key value PX ttlMs`, ADR 0067; absent: nothing is cached). */
  resultCache?: (key: string, value: string, ttlMs: number) => Promise<unknown>;
  /** Seals a call's arguments into its record for the backtest (ADR 0080; absent: records keep none). */
  sealArguments?: ArgumentSealer;
  /** The staging twin's state and recordings (ADR 0112; absent: a twin job fails as our fault, nothing is sent). */
  twin?: TwinStore;
  /** Signs each call's receipt (ADR 0111; absent: RECEIPT_SIGNING_KEY_FILE unset, calls get none). */
  receipts?: ReceiptSigner;
  now?: () => number;
}

/**
 * Invocations running in this worker, by id, so a caller's cancellation can abort them. A call that holds a slot of a
 * quota on calls in flight (`holdsSlot`, ADR 0048) is the exception once its job started: the quota protects the
 * upstream, which goes on working on a request it received whatever the caller did, so such a call runs to the
 * upstream's answer or its timeout (then its job ends and its slot is released); a cancellation only ends the caller's
 * wait. One cancelled before its job started sends nothing.
 */
export class RunningInvocations {
  /** Running invocations' controllers (none: one its caller's cancellation does not abort). */
  private readonly running = new Map<string, AbortController | undefined>();
  private readonly cancelledEarly = new Set<string>();

  start(id: string, { holdsSlot = false }: { holdsSlot?: boolean } = {}): AbortSignal {
    const c = new AbortController();
    if (this.cancelledEarly.delete(id)) c.abort();
    this.running.set(id, holdsSlot ? undefined : c);
    return c.signal;
  }

  end(id: string): void {
    this.running.delete(id);
  }

  cancel(id: string): void {
    if (this.running.has(id)) this.running.get(id)?.abort();
    else if (this.cancelledEarly.size < 10_000) this.cancelledEarly.add(id); // may still be queued here
  }
}

/** One invocation as the steps below see it: its job, clock and cancellation, and what its record collects. */
export interface Invocation {
  job: ToolInvokeJob;
  cancel: AbortSignal;
  now: () => number;
  started: number;
  /** Milliseconds left before the caller's deadline. */
  remaining: number;
  /**
   * This delivery's number: among those that reached the sending point (the execution lease's count), or,
   * for a call safe to send again (which writes no lease), among the queue's deliveries of the job.
   */
  delivery: number;
  /**
   * Writes the execution lease, confirmed by Redis before it resolves: called right before the first request
   * of this delivery leaves. Nothing for a call that is safe to send again (idempotent, or deduplicated by an
   * idempotency key): a re-delivery sends it again whatever a lease says (ADR 0015, "Calls safe to send again").
   */
  markSent: () => Promise<void>;
  /** Whether this server lets a user without their own connection use the shared credentials (read once per call). */
  fallback: () => Promise<boolean>;
  /** Progress and log events to the waiting edge, only when the caller asked for them. */
  emit?: ((event: ToolInvokeEvent['event']) => void) | undefined;
  steps: ExecutionStep[];
  /**
   * Writes the execution record (with `steps`) and observes the outcome; with the result that leaves, when the call
   * has one, for its receipt's digest (ADR 0111).
   */
  record: (outcome: ExecutionRecord['outcome'], extra?: RecordExtra, result?: ToolResultPayload) => void;
}

export type RecordExtra = {
  errorCode?: string;
  message?: string;
  /** What the result's guardrails found (detector, path, action; never a value). */
  guardrails?: ExecutionRecord['guardrails'];
  debug?: ExecutionRecord['debug'];
  tree?: ExecutionTreeNode[] | undefined;
  /** The edge gives the call's charge back (it expired in the queue, an `input_required` round): no `costUnits`. */
  uncharged?: true;
  /** What the tool's shape cut (bytes before and after). */
  shape?: ExecutionRecord['shape'];
  /** What the result brought into the caller's session (ADR 0078). */
  labels?: ExecutionRecord['labels'];
};
export type McpPlan = Extract<ExecutionPlan, { kind: 'mcp' }>;

export const answer = (job: ToolInvokeJob, result: ToolResultPayload): ToolInvokeResult => ({
  v: 1,
  invocationId: job.invocationId,
  ok: true,
  result,
});

/** Whether the server lets an external user without a connection of their own use the shared credentials. */
export const fallbackToShared = (deps: ProcessorDeps, job: ToolInvokeJob): Promise<boolean> =>
  deps.identitySettings ? deps.identitySettings(job.serverId).then((s) => s.fallbackToShared) : Promise.resolve(false);

/** A call safe to send again writes no lease (ADR 0015). */
export const writeNoLease = () => Promise.resolve();

/**
 * Whether the job's tool is safe to send again, so that, writing no lease, an earlier delivery may have sent it
 * unseen. A plan that cannot be read counts as such (whether a request left cannot be told); a tool absent
 * from its catalog version was never sent.
 */
export async function resendableTool(deps: Pick<ProcessorDeps, 'plans'>, job: ToolInvokeJob): Promise<boolean> {
  if (job.request) return true; // reads: resources, prompts, completions
  try {
    const entry = await deps.plans.get(job.serverId, job.catalogVersion, job.tool);
    return entry !== undefined && isResendable(entry.plan);
  } catch {
    return true;
  }
}

/** The members every execution record of a job has, in the record's order. */
export interface RecordBase {
  v: 1;
  invocationId: string;
  parentInvocationId?: string;
  workspaceId: string;
  serverId: string;
  catalogVersion: number;
  tool: string;
  caller: ExecutionRecord['caller'];
  startedAt: string;
  durationMs: number;
  costUnits?: number;
  guardrails?: ExecutionRecord['guardrails'];
}

/**
 * What every execution record of `job` says: which call, by whom, when, how long. Built by assignment, in the record's
 * key order, rather than by spreading optional parts (one object per call, not one per optional member).
 */
export function recordBase(job: ToolInvokeJob, startedAt: number, durationMs: number): RecordBase {
  // The required members are all assigned below, before it is returned.
  const base = {
    v: 1,
    // A task's invocation id is no UUID: its record gets one derived from it (ADR 0040).
    invocationId: executionRecordId(job.invocationId),
  } as RecordBase;
  // A call a `run_code` program made: linked to the program's invocation.
  if (job.parentInvocationId) base.parentInvocationId = job.parentInvocationId;
  base.workspaceId = job.principal.workspaceId;
  base.serverId = job.serverId;
  base.catalogVersion = job.catalogVersion;
  base.tool = job.tool;
  base.caller = recordCaller(job.principal);
  base.startedAt = new Date(startedAt).toISOString();
  base.durationMs = durationMs;
  // A tool call that reached the data plane was charged its cost (usage); a job's `request` is no tool call.
  if (!job.request) base.costUnits = job.rules?.cost ?? 1;
  // What guardrails found in the arguments at the edge (`on: "arguments"`; the result's findings follow them).
  if (job.rules?.guardrails) base.guardrails = job.rules.guardrails.arguments;
  return base;
}
