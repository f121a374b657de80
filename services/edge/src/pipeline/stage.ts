import type { CallerFacets, PolicyApprovalRule } from '@toolplane/access';
import type { CallRules, ToolInvokeJob, ToolOutcome } from '@toolplane/contracts';
import type { ToolCall, ToolCallDeps } from '../calls/call-types.ts';
import type { LoadedTool } from '../state/catalogs.ts';

/**
 * The call pipeline (ADR 0077): every rule on a call is a stage, one module each in this folder, run in the order of
 * `order.ts` on every path that calls a tool (`tools/call`, SMART `execute_tool`, tasks, a `run_code` program's inner
 * calls). A stage reads the call's state, and either lets it go on (nothing, or what to do when it ends), refuses it,
 * or answers it; the last step (`enqueue.ts`) queues its job.
 */

/** One call as the stages see it: built by `runCall`, handed to each stage in turn. */
export interface CallState {
  readonly deps: ToolCallDeps;
  /** The call as the later stages see it: a stage may put another in its place (arguments redacted by a guardrail). */
  call: ToolCall;
  readonly tool: LoadedTool;
  readonly invocationId: string;
  /** An access policy requires someone else's approval of this call (set by the access stage, asked by the approval stage). */
  policyApproval?: PolicyApprovalRule;
  /** Someone else approves this call (the approval stage): its results are not cached. */
  governed?: boolean;
  /** A task's call held for that approval: its job waits in the queue, nothing on this edge awaits it. */
  held?: boolean;
  /** A read of an attached server's resource, prompt or completion (`runRead`): the job's `request`. */
  readonly read?: ReadRequest | undefined;
  /** What the stages hand the worker: the job's `rules`, a key for each capability (quota charge, cache hint, …). */
  readonly rules: CallRules;
  /** The caller's facets the portable rules derived for this call (ADR 0101), each once. */
  facets?: CallerFacets;
  /** How the call ends once every stage let it go on: its job queued and awaited, unless a stage set another (a hold). */
  terminal?: Terminal;
}

/** What a read of an attached server asks it (`resources/read`, `prompts/get`, `completion/complete`). */
export type ReadRequest = NonNullable<ToolInvokeJob['request']>;

/** Queues the job of a call that passed every stage and makes its outcome. */
type Terminal = (s: CallState, settles: readonly Settle[]) => Promise<ToolOutcome>;

/** How a call ended: whether a job ran it (true), none will (false: refused later, not queued), or none was needed. */
export interface Ending {
  readonly added: boolean | undefined;
  readonly outcome?: ToolOutcome | undefined;
}

/** What a stage that let the call go on does as it ends: each hook is optional, each called at most once. */
export interface Settle {
  /** Its job was added to the queue (true), or no job will run (false: a later stage refused, the queue did not take it). */
  queued?(added: boolean): void | Promise<void>;
  /** The call is over. */
  ended?(end: Ending): void | Promise<void>;
  /** The result that leaves (a success, or a stage's answer), as this stage marks it; applied latest stage first. */
  finish?(outcome: ToolOutcome): ToolOutcome | Promise<ToolOutcome>;
}

/** A stage's verdict: nothing (go on), go on and settle, refused (its result), or answered (no job runs). */
export type Verdict = void | { settle: Settle } | { refused: ToolOutcome } | { answered: ToolOutcome };

export interface Stage {
  /**
   * Its rule's name in the one list of rules (`rules` in @toolplane/access), which also says which paths it applies to
   * (calls, reads of attached servers, …); docs/architecture.md and the stage × path test list it.
   */
  readonly name: string;
  /**
   * Whether calls of this tool can meet the stage at all: worked out once per catalog version (`planOf`), so that a
   * tool with no rules pays nothing for it. A stage whose rules depend on the caller answers true and looks at run time.
   */
  appliesTo(tool: LoadedTool): boolean;
  /** Its check: synchronous unless it has to ask something (Redis, a person). */
  run(s: CallState): Verdict | Promise<Verdict>;
}

/**
 * The call is over without a job awaited here (refused by a later stage, answered, held): every stage that let it go on
 * hears whether a job was queued, then that the call is over. The hooks log their own failures.
 */
export async function settleAll(settles: readonly Settle[], end: Ending): Promise<void> {
  if (end.added !== undefined) for (const s of settles) await s.queued?.(end.added);
  for (const s of settles) await s.ended?.(end);
}

/** The result that leaves, as each stage that let the call go on marks it, latest stage first. */
export async function finishAll(settles: readonly Settle[], outcome: ToolOutcome): Promise<ToolOutcome> {
  for (let i = settles.length - 1; i >= 0; i--) {
    const finish = settles[i]!.finish;
    if (finish) outcome = await finish(outcome);
  }
  return outcome;
}
