import { createHash, randomUUID } from 'node:crypto';
import {
  approvalEvent,
  approversText,
  heldBecause,
  type CallEventBase,
  type PolicyApprovalRule,
} from '@toolplane/access';
import { approvalKey, approvalPendingKey, type ApprovalRule, type Principal } from '@toolplane/contracts';
import { parkApproval, promoteHeldJob, requestApproval, restoreApproval, type ApprovalAsk } from '@toolplane/queue';
import { callEvents } from '../calls/call-audit.ts';
import type { ToolCallDeps } from '../calls/call-types.ts';
import { argumentsDigest, maskArguments, principalBinding } from '../confirmation/confirmation.ts';
import { failedCall, jobOf } from './enqueue.ts';
import { errorResult, refuse, type Rejection } from './refusal.ts';
import { settleAll, type CallState, type Settle, type Stage, type Verdict } from './stage.ts';

type Schema = Readonly<Record<string, unknown>>;

/**
 * Approval by someone else (ADR 0049) on the edge: a call of a tool whose server names it in `approvalTools`, or one
 * an access policy's false condition requires approval for (governance/policy-approvals.ts), is not enqueued until an approver
 * granted exactly that call. The request lives in Redis under its call binding (caller,
 * server, tool, arguments digest, rule version): the first call makes it (`approval.requested`, a row in the control
 * plane), retries read it, and the retry after the grant spends it in the same script (single use) and runs.
 */

/**
 * The stage: a call its tool's rule or an access policy says someone else approves. The approval of exactly this call
 * is spent when its job is queued (given back when no job runs), or the call is refused while there is none; a task's
 * call is held instead (its job waits in the queue, `holdJob`). Every tool has it: access policies may require approval
 * of any; a call no rule governs pays one lookup.
 */
export const approvalStage: Stage = {
  name: 'approval',
  appliesTo: () => true,
  run(s) {
    const rule = s.tool.rules.approval ?? s.policyApproval;
    if (!rule) return undefined;
    s.governed = true;
    return approve(s, rule);
  },
};

type Rule = ApprovalRule | PolicyApprovalRule;

/**
 * The approval of the call under `rule` (its tool's, or an access policy's): spent (the call goes on, `approval.executed`
 * once its job is queued, given back when none runs), held (a task's call), or the call's refusal (recorded) while
 * there is none: made now, pending, denied, expired, too many waiting, or not checkable (Redis unreachable: refused,
 * never let through).
 */
async function approve(s: CallState, rule: Rule): Promise<Verdict> {
  const { deps, call, invocationId } = s;
  const name = s.tool.def.name;
  const p = call.principal;
  if (p.keyId === undefined && (p.subject === undefined || p.subject === 'anonymous')) {
    const text =
      `${needsApproval(name, rule)}, and an anonymous call cannot be bound to one: call with an API key or a ` +
      'signed-in token. Nothing was sent.';
    return refuse(s, refusal({ code: 'approval.anonymous', text }));
  }
  const bound: Bound = { principal: p, serverId: call.loaded.catalog.serverId, tool: name };
  const binding = approvalBinding(bound, call.arguments, rule);
  const asked = await askApproval(deps, { ...bound, binding, parkTask: call.task?.invocationId }, rule);
  if (!asked) return refuse(s, refusal({ code: 'approval.unavailable', text: unavailableText(name) }));
  const { ask, key, now } = asked;
  const events = callEvents(call, name);
  if (ask.kind === 'granted') {
    const spent = { key, id: ask.id };
    const executed = () => deps.audit?.add(approvalEvent(events, { id: spent.id, action: 'executed' }));
    return { settle: { queued: (added) => (added ? executed() : giveBackApproval(deps, spent)) } };
  }
  if (ask.kind === 'capped')
    return refuse(s, refusal({ code: 'approval.too_many_pending', text: cappedText(name, rule, ask.pending) }));
  const expiresAt = ask.kind === 'created' ? new Date(now + rule.expiresInSeconds * 1000).toISOString() : undefined;
  if (ask.kind === 'created') {
    const made = { principal: p, args: call.arguments, inputSchema: s.tool.def.inputSchema };
    deps.audit?.add(requestedEvent(events, made, rule, { id: ask.id, binding, expiresAt: expiresAt! }));
  }
  if ((ask.kind === 'created' || ask.kind === 'pending') && ask.parked) {
    const until = new Date(ask.parked.expiresAt).toISOString();
    const statusMessage =
      `Waiting for approval request ${ask.id} (approvers: ${approversText(rule)}; it expires at ${until}). ` +
      'Nothing was sent yet: the call runs once approved, and this task then completes with its result.';
    const held: HeldRequest = { key, id: ask.id, expiresAt: ask.parked.expiresAt, statusMessage };
    s.held = true;
    s.terminal = (state, settles) => holdJob(state, settles, held);
    return { settle: { queued: (added) => (added ? undefined : releaseHeld(deps, held, invocationId)) } };
  }
  if (ask.kind === 'expired' && ask.found) deps.audit?.add(approvalEvent(events, { id: ask.id, action: 'expired' }));
  const state = ask.kind === 'created' ? 'pending' : ask.kind === 'held' ? 'granted' : ask.kind;
  const meta = {
    id: ask.id,
    state,
    approvers: rule.approvers,
    approvals: rule.approvals,
    ...(expiresAt ? { expiresAt } : {}),
  };
  const code = ask.kind === 'created' ? 'approval.required' : `approval.${ask.kind === 'held' ? 'pending' : ask.kind}`;
  return refuse(s, refusal({ code, text: askText(name, ask, rule, expiresAt), meta }));
}

const unavailableText = (name: string) =>
  `The approval of this call of "${name}" could not be checked (the edge cannot reach Redis): the call was not ` +
  'made, nothing was sent. Retry in a few seconds.';

/**
 * The request of exactly this call in Redis (`requestApproval`: made, read, spent, or capped in one script); undefined
 * when it cannot be asked (no store on this edge, Redis unreachable: logged).
 */
async function askApproval(
  deps: ToolCallDeps,
  call: Bound & { binding: string; parkTask: string | undefined },
  rule: Rule,
): Promise<{ ask: ApprovalAsk; key: string; now: number } | undefined> {
  const store = deps.approvals;
  const key = approvalKey(store?.prefix ?? '', call.principal.workspaceId, call.binding);
  const now = Date.now();
  try {
    if (!store) throw new Error('this edge keeps no approval requests');
    const max = store.maxPending ?? DEFAULT_MAX_PENDING_APPROVALS;
    const ask = await requestApproval(store.redis, key, {
      newId: randomUUID(),
      now,
      expiresInSeconds: rule.expiresInSeconds,
      // A task's call waits as the task (its job held in the queue) rather than coming back as an error.
      parkTask: call.parkTask,
      cap: { key: approvalPendingKey(store.prefix, call.principal.workspaceId, pendingOwner(call)), max },
    });
    return { ask, key, now };
  } catch (err) {
    deps.log.warn({ tool: call.tool, err: String(err) }, 'an approval could not be checked');
    return undefined;
  }
}

/** An approval spent on this call: given back if a later check refuses it, else recorded as executed. */
interface SpentApproval {
  readonly key: string;
  readonly id: string;
}

/** A task's call the request now holds: its job waits in the queue until the request is decided or expires. */
interface HeldRequest {
  readonly key: string;
  readonly id: string;
  /** Epoch ms. */
  readonly expiresAt: number;
  /** What the task says while it waits: who must approve. */
  readonly statusMessage: string;
}

/** What an approval is bound to: the caller, the server and the tool (`owner`), and the arguments and the rule. */
interface Bound {
  readonly principal: Readonly<Principal>;
  readonly serverId: string;
  readonly tool: string;
}

/** The SHA-256 (base64url) of what an approval is for: the caller, the server, the tool, the arguments and the rule. */
function approvalBinding(b: Bound, args: Readonly<Record<string, unknown>>, rule: ApprovalRule): string {
  const digest = argumentsDigest(b.serverId, b.tool, args);
  return createHash('sha256')
    .update(JSON.stringify([principalBinding(b.principal), b.serverId, b.tool, digest, rule.version]))
    .digest('base64url');
}

/** SHA-256 (base64url) of the caller, the server and the tool: whose undecided requests count against the cap. */
function pendingOwner(b: Bound): string {
  return createHash('sha256')
    .update(JSON.stringify([principalBinding(b.principal), b.serverId, b.tool]))
    .digest('base64url');
}

/** The default cap on one caller's undecided requests for one tool (the edge's `APPROVAL_MAX_PENDING`). */
const DEFAULT_MAX_PENDING_APPROVALS = 20;

/** Refused for too many requests waiting: none was made; what the model can do is wait for decisions. */
function cappedText(name: string, rule: Rule, pending: number): string {
  return (
    `${needsApproval(name, rule)}, and ${pending} approval requests of yours for "${name}" are still waiting for a ` +
    `decision: the most one caller may have waiting for a tool. No request was made and nothing was sent. Wait until ` +
    `the approvers (${approversText(rule)}) decide those or they expire, then call again; calling again with the ` +
    'arguments of a request already waiting asks about that request, it makes no new one.'
  );
}

/** Why the call needs approval: its tool's rule, or an access policy whose condition does not hold for it. */
function needsApproval(name: string, rule: Rule): string {
  if (!('policy' in rule)) return `Tool "${name}" needs someone else's approval before each call`;
  if (rule.session) return `This call of "${name}" needs someone else's approval: ${rule.session.reason}`;
  if (rule.because) return `This call of "${name}" needs someone else's approval: ${rule.because}`;
  const { id, name: policy } = rule.policy;
  return (
    `This call of "${name}" needs someone else's approval: access policy ${policy ? `"${policy}" (${id})` : id} ` +
    `grants it only when its condition holds, and ${heldBecause(rule)}`
  );
}

/** What the agent reads, per state of the request: each says nothing was sent and what to do. */
function askText(
  name: string,
  ask: Exclude<ApprovalAsk, { kind: 'capped' }>,
  rule: ApprovalRule | PolicyApprovalRule,
  expiresAt: string | undefined,
): string {
  const again = `call "${name}" again with the same arguments: it then runs, once.`;
  switch (ask.kind) {
    case 'created':
      return (
        `${needsApproval(name, rule)}. Approval request ${ask.id} was made ` +
        `(approvers: ${approversText(rule)}; it expires at ${expiresAt}). The call was not made, nothing was sent. ` +
        `Once it is approved, ${again}`
      );
    case 'pending':
      if (ask.task)
        return (
          `Approval request ${ask.id} for this call of "${name}" is pending, held by task ${ask.task}: the call runs ` +
          `there once approved (approvers: ${approversText(rule)}). This call was not made, nothing was sent.`
        );
      return (
        // A session rule's hold says again which earlier result decided it: the agent may not have kept the first answer.
        `${'policy' in rule && (rule.session || rule.because) ? `${needsApproval(name, rule)}. ` : ''}` +
        `Approval request ${ask.id} for this call of "${name}" is still pending (approvers: ${approversText(rule)}). ` +
        `The call was not made, nothing was sent. Once it is approved, ${again}`
      );
    case 'held':
      return (
        `Approval request ${ask.id} for this call of "${name}" was approved for task ${ask.task}, which runs it: read ` +
        'its result there. This call was not made, nothing was sent.'
      );
    case 'denied':
      return (
        `Approval request ${ask.id} for this call of "${name}" was denied${ask.comment ? `: ${ask.comment}` : ''}. ` +
        'The call was not made, nothing was sent. The same call is refused until the request expires.'
      );
    default:
      return (
        `Approval request ${ask.id} for this call of "${name}" expired: the call was not made, nothing was sent. ` +
        'Calling again makes a new request.'
      );
  }
}

/** A refusal for want of an approval: a tool error with the request's facts in `_meta` (when there is a request). */
function refusal(why: { code: string; text: string; meta?: object }): Rejection {
  const { code, text, meta } = why;
  const result = { ...errorResult(text), ...(meta ? { _meta: { 'toolplane/approval': meta } } : {}) };
  return { errorCode: code, message: text, result };
}

/** `approval.requested`: what the control plane makes the request's row of (arguments masked, never in clear). */
function requestedEvent(
  events: CallEventBase,
  made: { principal: Readonly<Principal>; args: Readonly<Record<string, unknown>>; inputSchema: Schema },
  rule: ApprovalRule,
  approval: { id: string; binding: string; expiresAt: string },
) {
  const p = made.principal;
  return approvalEvent(
    events,
    { id: approval.id, action: 'requested' },
    {
      approval,
      argumentsDigest: argumentsDigest(events.serverId, events.tool, made.args),
      arguments: maskArguments(made.args, made.inputSchema),
      requester: {
        ...(p.keyId !== undefined ? { keyId: p.keyId } : {}),
        ...(p.subject !== undefined ? { subject: p.subject } : {}),
        ...(p.username !== undefined ? { person: p.username } : {}),
      },
      rule,
    },
  );
}

/** The held call's job could not be queued (or a later check refused it): the request lets go of its task. */
async function releaseHeld(deps: ToolCallDeps, held: HeldRequest, taskInvocation: string): Promise<void> {
  if (!deps.approvals) return;
  await parkApproval(deps.approvals.redis, held.key, { id: held.id, taskId: taskInvocation, queuePrefix: '' }).catch(
    (err: unknown) => deps.log.warn({ approval: held.id, err: String(err) }, 'a held request kept its task'),
  );
}

/**
 * Where the held call's job waits, written on its request for the control plane to promote it when decided. A
 * request decided before that (an approver faster than this edge) is promoted here.
 */
async function recordHeld(
  deps: ToolCallDeps,
  held: HeldRequest,
  job: { invocationId: string; queuePrefix: string },
): Promise<void> {
  const redis = deps.approvals!.redis;
  const { invocationId, queuePrefix } = job;
  const state = await parkApproval(redis, held.key, { id: held.id, taskId: invocationId, queuePrefix });
  if (state !== '' && state !== 'pending') await promoteHeldJob(redis, queuePrefix, invocationId);
}

/** A later check refused the call: its approval is given back, to be spent by the next retry. */
function giveBackApproval(deps: ToolCallDeps, spent: SpentApproval): void {
  if (!deps.approvals) return;
  restoreApproval(deps.approvals.redis, spent.key, spent.id).catch((err: unknown) =>
    deps.log.warn({ approval: spent.id, err: String(err) }, 'a spent approval was not given back'),
  );
}

/** A held job is due a little after its request's expiry, so that its worker finds the request expired. */
const HOLD_SLACK_MS = 1000;

/**
 * A task's call held for someone else's approval (ADR 0049): charged as any call (its units go back if it never runs),
 * then queued as a job delayed until the request's expiry, which the request's decision promotes; the job itself
 * spends the grant when it starts (the worker), so the call runs once even if no edge is left. The task says who must
 * approve meanwhile; its worker settles it. Nothing here waits for the reply.
 */
async function holdJob(s: CallState, settles: readonly Settle[], held: HeldRequest) {
  const { deps, call, invocationId } = s;
  const dueAt = held.expiresAt + HOLD_SLACK_MS;
  try {
    const job = await jobOf(s, dueAt + deps.timeoutMs);
    const approval = { key: held.key, id: held.id, timeoutMs: deps.timeoutMs };
    const queuePrefix = await deps.invocations.hold({ ...job, rules: { ...job.rules, approval } }, dueAt - Date.now());
    // Not written (Redis failing now): the job is still due at the expiry, and reads the decision then.
    await recordHeld(deps, held, { invocationId, queuePrefix }).catch((err: unknown) =>
      deps.log.warn({ approval: held.id, err: String(err) }, 'a held call is due at its expiry only'),
    );
  } catch (err) {
    await settleAll(settles, { added: false });
    return failedCall(deps, { tool: call.name, invocationId, aborted: call.signal?.aborted === true }, err);
  }
  await settleAll(settles, { added: true });
  call.task?.onHeld?.(held.statusMessage, dueAt);
  return errorResult(held.statusMessage);
}
