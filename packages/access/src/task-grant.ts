import { compileCondition, evaluate, type Condition } from '@toolplane/conditions';
import type { TaskGrant } from '@toolplane/contracts';
import { z } from 'zod';
import type { PolicyApprovalRule } from './policy-approval.ts';
import {
  portableRule,
  type GrantStanding,
  type RuleCaller,
  type RuleDecision,
  type RuleTool,
} from './portable-rule.ts';

/**
 * The task grant (ADR 0108): a person approved what a task may do (the tools it covers, bounds on their arguments, a
 * budget of calls, an expiry), and every call made with a narrowed token redeemed from the grant is held to it. A
 * portable rule whose facet is the grant itself: the paths resolve the caller's grant id (its principal's
 * `delegation.grantId`) against the grants published with the workspace's access, and the check is pure. It needs no
 * server setting: it meets every tool (`unset`), and a caller without a grant passes it at once.
 *
 * An off-grant call (a tool not covered, a bound that does not hold, the grant expired or revoked) is refused, or held
 * for the grant's person's approval, as the grant says; `log_only` grants let it go on and say what they would have
 * done. The violated bound is named in the tool error, the record's message and the audit event (`violated`: the
 * bound's name, the granter's words, never an argument). What a lying client sends is judged by CEL as written: a
 * string "30" is not a number (a bound comparing it is false), a missing argument makes the bound false, `-0` is 0.
 * The budget of calls is a limit of the token's chain, counted by the `delegation` rule on every edge (ADR 0084).
 */

/** It has no settings of a server: grants are made at `/task_grants`. */
const TaskGrantSettings = z.strictObject({});
type TaskGrantSettings = z.output<typeof TaskGrantSettings>;

/** Bounds compiled once each (a grant's few conditions, reused by every call of its tokens). */
const compiled = new Map<string, Condition | null>();
const MAX_COMPILED = 2_000;

function conditionOf(text: string): Condition | null {
  let c = compiled.get(text);
  if (c !== undefined) return c;
  const result = compileCondition(text);
  c = result.ok ? result.condition : null;
  if (compiled.size >= MAX_COMPILED) compiled.clear();
  compiled.set(text, c);
  return c;
}

/** What the call breaks of its grant: a code, what is violated (named in events), and why, for the model. */
interface Violation {
  readonly code: string;
  readonly violated: string;
  readonly why: string;
}

function violation(grant: TaskGrant, tool: RuleTool, args: Readonly<Record<string, unknown>>, caller: RuleCaller) {
  if (grant.revokedAt !== undefined)
    return { code: 'task_grant.revoked', violated: 'revoked', why: `the task grant ${grant.id} was revoked` };
  if (Date.parse(grant.expiresAt) <= Date.now())
    return { code: 'task_grant.expired', violated: 'expiry', why: `the task grant ${grant.id} expired` };
  if (!grant.tools.includes(tool.name))
    return {
      code: 'task_grant.tool',
      violated: 'tools',
      why: `the task grant ${grant.id} does not cover tool "${tool.name}" (it covers ${grant.tools.join(', ')})`,
    };
  const activation = {
    caller: { key_id: caller.keyId ?? '', subject: caller.subject ?? '', user: caller.person ?? '' },
    tool: { name: tool.name, server_id: '', server_name: '' },
    args,
  };
  for (const bound of grant.bounds) {
    const condition = conditionOf(bound.condition);
    if (condition === null || !evaluate(condition, activation as never))
      return {
        code: 'task_grant.bound',
        violated: bound.name,
        why: `the bound "${bound.name}" of the task grant ${grant.id} does not hold for these arguments`,
      };
  }
  return undefined;
}

/** How long an approval of a held call may wait: until the grant ends, at least a minute, at most a day. */
const holdSeconds = (grant: TaskGrant) =>
  Math.min(86_400, Math.max(60, Math.ceil((Date.parse(grant.expiresAt) - Date.now()) / 1000)));

/** The approval a held off-grant call waits for: the grant's person, once, for exactly this call. */
function grantApproval(grant: TaskGrant, v: Pick<Violation, 'violated' | 'why'>): PolicyApprovalRule {
  return {
    version: `task-grant:${grant.id}`,
    approvers: { people: [grant.person] },
    approvals: 1,
    expiresInSeconds: holdSeconds(grant),
    policy: { id: grant.id, name: `task grant: ${grant.purpose.slice(0, 120)}` },
    because: v.why,
    taskGrant: { id: grant.id, purpose: grant.purpose.slice(0, 2000), violated: v.violated },
  };
}

/**
 * The hold of a call past the grant's budget of calls, when the grant holds off-grant calls (ADR 0113): the person may
 * approve that one call beyond it. Undefined when the call stays refused: a grant that refuses, a log-only one (its
 * budget is a limit of the chain all the same), or one revoked or expired.
 */
export function overBudgetHold(grant: TaskGrant | undefined): PolicyApprovalRule | undefined {
  if (grant?.offGrant !== 'hold' || grant.mode !== 'enforced' || grant.revokedAt !== undefined) return undefined;
  if (Date.parse(grant.expiresAt) <= Date.now()) return undefined;
  const why = `the budget of ${grant.calls} call${grant.calls === 1 ? '' : 's'} of the task grant ${grant.id} is spent`;
  return grantApproval(grant, { violated: 'calls', why });
}

function check({
  args,
  tool,
  facet,
}: {
  args: Readonly<Record<string, unknown>>;
  tool: RuleTool;
  settings: TaskGrantSettings;
  facet: { standing: GrantStanding | undefined; caller: RuleCaller };
}): RuleDecision {
  const { standing, caller } = facet;
  if (standing === undefined) return undefined;
  const { grant } = standing;
  if (grant === undefined)
    return {
      refuse: {
        code: 'task_grant.unknown',
        message:
          `The task grant ${standing.id} this token was redeemed from is not known here: the call of tool ` +
          `"${tool.name}" was not made, nothing was sent.`,
        violated: 'grant',
      },
    };
  const v: Violation | undefined = violation(grant, tool, args, caller);
  if (v === undefined) return undefined;
  const hold = grant.offGrant === 'hold' && v.code !== 'task_grant.revoked';
  const refusal = {
    code: v.code,
    violated: v.violated,
    message:
      `Off-grant call of tool "${tool.name}": ${v.why}. ` +
      (hold
        ? `It needs the approval of ${grant.person}, for whom the grant acts.`
        : 'The call was not made, nothing was sent. Stay within the grant, or ask its person for another.'),
  };
  if (grant.mode === 'log_only') return { wouldRefuse: refusal };
  return hold ? { hold: { ...refusal, approval: grantApproval(grant, v) } } : { refuse: refusal };
}

export const taskGrant = portableRule<TaskGrantSettings, { standing: GrantStanding | undefined; caller: RuleCaller }>({
  name: 'task-grant',
  settings: TaskGrantSettings,
  unset: {},
  appliesTo: () => true,
  facet: (caller) => ({ standing: caller.grant, caller }),
  check,
  loosened: () => [],
});
