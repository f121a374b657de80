import type { ConditionActivation, ConditionCaller } from '@toolplane/conditions';
import type { AccessPolicyRule, ApprovalRule, PolicyPrincipal, WorkspaceAccess } from '@toolplane/contracts';
import {
  conditionActivation,
  conditionRefusal,
  failedClauses,
  policyName,
  readCondition,
  shadowed,
  type CallServer,
  type ConditionalTool,
} from './call-conditions.ts';
import {
  coversServer,
  credentialMatcher,
  decideAccess,
  describeCaller,
  hiddenToolRefusal,
  namedByAny,
  userMatcher,
  type AccessDecision,
  type CallerIdentity,
  type PrincipalMatcher,
} from './decide.ts';
import { approvalInsteadOf, approversText, heldBecause, type PolicyApprovalRule } from './policy-approval.ts';

/**
 * Why a caller may or may not call a tool with given arguments (`POST /access_policies/explain`): the decision made by
 * the edge's own steps, in the edge's order, and how each policy of the workspace reads the call.
 */

/** One call to explain: the caller as the edge would see it, the server, the tool and the arguments. */
export interface ExplainCall {
  readonly identity: CallerIdentity;
  /** The caller as conditions see it (`caller.*`). */
  readonly caller: Readonly<ConditionCaller>;
  readonly server: CallServer;
  readonly tool: ConditionalTool;
  readonly args: Readonly<Record<string, unknown>>;
  /** How the answer names the caller's credential (default: as the edge's refusals do, `API key <id>`). */
  readonly credentialName?: string | undefined;
  /** The rule of the tool's server (`approvalTools`) when it names this tool: every call of it waits for approval. */
  readonly toolApproval?: ApprovalRule | undefined;
}

/** A policy's condition on this call: evaluated only when the policy applies to it (else `result` is null). */
interface ConditionResult {
  readonly expression: string;
  readonly result: boolean | null;
  /** What made it false when that was an error (a missing argument, another type, a problem with this tool). */
  readonly error: string | null;
  /** The part of the condition that was not true. */
  readonly failed: string | null;
}

/** How one policy reads the call. */
interface PolicyReading {
  readonly policy: AccessPolicyRule;
  /** Its principals that name the caller's credential or the external user it acts as (none: not about this caller). */
  readonly matchedPrincipals: PolicyPrincipal[];
  readonly coversServer: boolean;
  readonly coversTool: boolean;
  readonly condition: ConditionResult | null;
  /** false: log only (`enforce: false`), its false condition refuses nothing. */
  readonly enforced: boolean;
  /** One line: why it grants the call, or why not. */
  readonly why: string;
}

export interface AccessExplanation {
  /** false: refused, or (with `approval`) held until approved. */
  readonly allowed: boolean;
  /** The rule the call is held under until someone it names approves it: the tool's server's, or a policy's. */
  readonly approval?:
    | (ApprovalRule & { readonly policy?: PolicyApprovalRule['policy']; readonly problem?: string | undefined })
    | undefined;
  /** One sentence: what grants the call, the rule it waits for, or the refusal the edge gives. */
  readonly reason: string;
  readonly who: string;
  readonly policies: PolicyReading[];
}

type CallDecision =
  | { allowed: true; decision: AccessDecision & { allowed: true } }
  | { allowed: false; reason: string }
  | { allowed: false; approval: PolicyApprovalRule };

/**
 * The decision for the call, by the edge's steps in its order: the access decision on the server (authentication),
 * the tool hidden from the caller's view (`tools/call` of a denied tool), then the conditional grants (before the
 * enqueue). A denial's reason is the edge's refusal, word for word. The control plane's backtest replays recorded
 * calls with it (ADR 0080).
 */
export function decideCall(access: WorkspaceAccess, call: ExplainCall, who: string): CallDecision {
  // `who` is `decideAccess`'s own description of the caller unless the credential is named otherwise.
  const name = call.tool.def.name;
  const decision = decideAccess(access, call.identity, call.server.catalog.serverId);
  if (!decision.allowed) return { allowed: false, reason: decision.reason };
  if (decision.grant !== 'all' && !decision.grant.has(name))
    return { allowed: false, reason: hiddenToolRefusal(who, name) };
  const conditions = decision.conditions && { rules: decision.conditions, caller: call.caller };
  const refused = conditions && conditionRefusal(conditions, call.server, call.tool, call.args);
  if (!refused) return { allowed: true, decision };
  // The edge holds instead of refusing when every failed clause has a policy requiring the same approval rule.
  const approval = approvalInsteadOf(failedClauses(conditions, call.server, call.tool, call.args), call.tool);
  return approval ? { allowed: false, approval } : { allowed: false, reason: refused };
}

/** What the readings need of the call, made once. */
interface Reading {
  readonly call: ExplainCall;
  readonly credential: PrincipalMatcher | undefined;
  readonly user: PrincipalMatcher | undefined;
  readonly activation: ConditionActivation;
  /** The caller's credential in `why` lines. */
  readonly credentialName: string;
  /** The caller, with the external user it acts as. */
  readonly who: string;
}

function conditionOn(policy: AccessPolicyRule, applies: boolean, r: Reading): ConditionResult | null {
  if (policy.condition === undefined) return null;
  const expression = policy.condition;
  if (!applies) return { expression, result: null, error: null, failed: null };
  const e = readCondition(policy, r.call.tool, r.activation);
  if (!e.compiled)
    return { expression, result: false, error: `it does not apply to this tool: ${e.problem}`, failed: null };
  if (e.value) return { expression, result: true, error: null, failed: null };
  return { expression, result: false, error: e.error ? (e.reason ?? null) : null, failed: e.failed?.text ?? null };
}

/** Whom a policy's matched principals name: the credential, the external user, or both. */
function whom(matched: readonly PolicyPrincipal[], r: Reading): string {
  const byCredential = r.credential !== undefined && matched.some(r.credential);
  const byUser = r.user !== undefined && matched.some(r.user);
  const user = `external user "${r.call.identity.username}"`;
  if (byCredential && byUser) return `${r.credentialName} and ${user}`;
  return byUser ? user : r.credentialName;
}

function why(p: Omit<PolicyReading, 'why'>, r: Reading): string {
  const tool = `tool "${r.call.tool.def.name}"`;
  const server = `MCP server "${r.call.server.catalog.name}"`;
  if (p.matchedPrincipals.length === 0)
    return r.user
      ? `names neither ${r.credentialName} nor external user "${r.call.identity.username}"`
      : `does not name ${r.credentialName}`;
  const to = whom(p.matchedPrincipals, r);
  if (!p.coversServer) return `names ${to}, not ${server}`;
  if (!p.coversTool) return `names ${to} on ${server}, not ${tool}`;
  const c = p.condition;
  if (!c) return `grants ${tool} to ${to} (no condition)`;
  if (c.result) return `grants ${tool} to ${to}: its condition holds`;
  const false_ = c.error
    ? `its condition fails on this call: ${c.error}`
    : `its condition is false for this call${c.failed ? ` (${c.failed} is false)` : ''}`;
  if (p.enforced)
    return p.policy.approval ? `${false_}: requires approval (${approversText(p.policy.approval)})` : false_;
  return `${false_}: would ${p.policy.approval ? 'require approval' : 'refuse'} (log only)`;
}

function readPolicy(policy: AccessPolicyRule, r: Reading): PolicyReading {
  const name = r.call.tool.def.name;
  const matchedPrincipals = policy.principals.filter((x) => r.credential?.(x) === true || r.user?.(x) === true);
  const covers = coversServer(policy, r.call.server.catalog.serverId);
  const coversTool = policy.tools.includes('*') || policy.tools.includes(name);
  const condition = conditionOn(policy, matchedPrincipals.length > 0 && covers && coversTool, r);
  const reading = {
    policy,
    matchedPrincipals,
    coversServer: covers,
    coversTool,
    condition,
    enforced: !shadowed(policy),
  };
  return { ...reading, why: why(reading, r) };
}

/**
 * The policies that grant the call to what `matches` names: applying, and unconditional or with a condition true;
 * where none does, the log-only policies that let it through (their conditions false).
 */
function granting(readings: readonly PolicyReading[], matches: PrincipalMatcher): string[] {
  const applying = readings.filter((p) => p.coversServer && p.coversTool && p.matchedPrincipals.some(matches));
  const granted = applying
    .filter((p) => !p.condition || p.condition.result === true)
    .map((p) => `${policyName(p.policy)}${p.condition ? ' (its condition holds)' : ''}`);
  if (granted.length > 0) return granted;
  return applying
    .filter((p) => !p.enforced)
    .map(
      (p) =>
        `${policyName(p.policy)} (its condition is false: would ${p.policy.approval ? 'require approval' : 'refuse'}, log only)`,
    );
}

/** The sentence of an allowed call: what grants the credential, and the external user, the call. */
function allowedReason(access: WorkspaceAccess, readings: readonly PolicyReading[], r: Reading): string {
  const { identity } = r.call;
  const grounds: string[] = [];
  if (r.credential && identity.keyId && !namedByAny(access.policies, r.credential))
    grounds.push(`${r.credentialName} is named by no access policy: it may use every tool of its workspace`);
  else if (r.credential)
    grounds.push(`${r.credentialName} is granted it by ${granting(readings, r.credential).join(', ')}`);
  if (r.user)
    grounds.push(`external user "${identity.username}" is granted it by ${granting(readings, r.user).join(', ')}`);
  const tool = `tool "${r.call.tool.def.name}" on MCP server "${r.call.server.catalog.name}"`;
  return `Allowed: ${r.who} may call ${tool}; ${grounds.join('; ')}.`;
}

/**
 * The sentence of a call held for approval, as the edge tells the agent: the tool's server's rule comes first (the
 * edge applies it to every call of the tool), else the policy whose false condition requires approval.
 */
function heldReason(rule: NonNullable<AccessExplanation['approval']>, r: Reading): string {
  const tool = `tool "${r.call.tool.def.name}" on MCP server "${r.call.server.catalog.name}"`;
  const why = rule.policy
    ? `${policyName(rule.policy)} grants it only when its condition holds, and ${heldBecause(rule)}`
    : 'its server requires approval for every call of it';
  return (
    `Requires approval: ${r.who} may call ${tool} once someone else approves exactly this call (approvers: ` +
    `${approversText(rule)}); ${why}. Nothing is sent before then.`
  );
}

/**
 * Explains one call: the decision the edge makes for it (same steps, same code), its reason in one sentence, and how
 * each policy of the workspace reads it (principals, server, tool, condition).
 */
export function explainAccess(access: WorkspaceAccess, call: ExplainCall): AccessExplanation {
  const { identity } = call;
  const credentialName = call.credentialName ?? describeCaller({ ...identity, username: undefined });
  const who =
    identity.username === undefined ? credentialName : `${credentialName} for external user "${identity.username}"`;
  const r: Reading = {
    call,
    credential: credentialMatcher(identity),
    user: identity.username !== undefined ? userMatcher(identity.username, access.groups) : undefined,
    activation: conditionActivation(call.caller, call.server, call.tool, call.args),
    credentialName,
    who,
  };
  const policies = access.policies.map((p) => readPolicy(p, r));
  const decided = decideCall(access, call, who);
  if ('reason' in decided) return { allowed: false, reason: decided.reason, who, policies };
  const approval = call.toolApproval ?? ('approval' in decided ? decided.approval : undefined);
  if (approval) {
    // The reason says why the call is held (`problem`); the rule is answered as the policy has it.
    const { problem: _problem, ...rule } = approval as PolicyApprovalRule;
    return { allowed: false, approval: rule, reason: heldReason(approval, r), who, policies };
  }
  return { allowed: true, reason: allowedReason(access, policies, r), who, policies };
}
