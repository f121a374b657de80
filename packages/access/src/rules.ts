/**
 * The rules on what a caller does through a hosted server, in the one order every path applies them (ADR 0077, ADR
 * 0097): the edge's calls and reads (`services/edge/src/pipeline/order.ts`), the worker's workflow steps
 * (`step-checks.ts`), an event subscription (the edge) and each occurrence delivered to it (the worker's fan-out), and
 * the backtest's replay of recorded calls (the control plane). Each path runs the rules that declare it, in this order,
 * and exports the names it runs; a unit test next to each compares them with `rulesOf(path)`.
 *
 * The order's reasons: the arguments are checked before anything reads them; a narrowed token's limits right after
 * (its charge of calls is given back when a later rule refuses); the guardrails on arguments before access (conditions
 * read the arguments as the guardrails left them); the session after access (a hold it asks for is the approval's);
 * every rule that only refuses before the ones that keep something (a person's answer, a spent approval, a quota
 * charge), so that a refused call costs nothing; the quota charges after every refusal; the cache answers only a
 * charged call.
 */

import type { PortableRule } from './portable-rule.ts';
import { spendingLimit } from './spending-limit.ts';
import { taskGrant } from './task-grant.ts';

/** The paths a rule can apply to. */
export type RulePath = 'call' | 'read' | 'workflowStep' | 'eventSubscribe' | 'eventDelivery' | 'backtest';

/**
 * What a rule keeps when it lets a call go on: nothing (it only refuses), a charge given back when a later rule refuses
 * (`refund`), a mark on the result that leaves (`mark`), what the result brings into the session (`labels`), an approval
 * spent or given back as the job is queued (`spend`), a charge released the way the call ends (`release`), or an answer
 * without a job (`answer`).
 */
type SettleKind = 'none' | 'refund' | 'mark' | 'labels' | 'spend' | 'release' | 'answer';

export interface Rule {
  readonly name: string;
  readonly paths: readonly RulePath[];
  readonly settle: SettleKind;
  /**
   * A portable rule (ADR 0101): defined once, as a module with a pure check, run on each of its paths by that path's
   * one generic adapter (`rulePlan`'s `portable`): no path's map names it.
   */
  readonly portable?: PortableRule;
}

/** The list, the only place the order is written. */
export const rules = [
  { name: 'arguments', paths: ['call', 'eventSubscribe'], settle: 'none' },
  {
    name: 'delegation',
    paths: ['call', 'read', 'workflowStep', 'eventSubscribe', 'eventDelivery'],
    settle: 'refund',
  },
  { name: 'argument-guardrails', paths: ['call', 'workflowStep', 'backtest'], settle: 'mark' },
  { name: 'access', paths: ['call', 'workflowStep', 'eventSubscribe', 'eventDelivery', 'backtest'], settle: 'none' },
  // A server's bound on an argument (ADR 0101), on the arguments as the guardrails left them, refusing before anything
  // keeps something. Portable: the edge's calls and the worker's steps run it through their adapters.
  { name: 'spending-limit', paths: ['call', 'workflowStep', 'backtest'], settle: 'none', portable: spendingLimit },
  // What a person granted a task (ADR 0108): a call of a token redeemed from a task grant, held to its tools, bounds,
  // expiry and revocation; refused before anything keeps something, held through the approval rule's hold.
  { name: 'task-grant', paths: ['call', 'workflowStep', 'backtest'], settle: 'none', portable: taskGrant },
  { name: 'session', paths: ['call', 'read', 'workflowStep', 'backtest'], settle: 'labels' },
  { name: 'upstream-credential', paths: ['call'], settle: 'none' },
  { name: 'task-only', paths: ['call'], settle: 'none' },
  { name: 'confirmation', paths: ['call', 'backtest'], settle: 'mark' },
  { name: 'approval', paths: ['call', 'backtest'], settle: 'spend' },
  // An occurrence's payload is what its subscriber receives, as a call's result is: its server's guardrails on results
  // withhold or redact it before it is counted. A call's result meets them in the worker, after the call.
  { name: 'result-guardrails', paths: ['eventDelivery'], settle: 'mark' },
  { name: 'quota', paths: ['call', 'read', 'workflowStep', 'eventDelivery', 'backtest'], settle: 'release' },
  { name: 'cache', paths: ['call'], settle: 'answer' },
] as const satisfies readonly Rule[];

export type RuleName = (typeof rules)[number]['name'];

/** The rules a path runs, in order. */
function rulesOf(path: RulePath): readonly Rule[] {
  return rules.filter((rule) => (rule.paths as readonly RulePath[]).includes(path));
}

/** The names of the rules a path runs, in order. */
export const ruleNamesOf = (path: RulePath): readonly string[] => rulesOf(path).map((rule) => rule.name);

/** The portable rules (ADR 0101), in the list's order: the registry of rules a server's `ruleSettings` may set. */
export const portableRules: readonly PortableRule[] = (rules as readonly Rule[]).flatMap((rule) =>
  rule.portable ? [rule.portable] : [],
);

/**
 * A path's implementations of its rules, in the list's order: built once, when its module loads. A portable rule
 * without an implementation of its own is made one by the path's adapter (`portable`). Throws when a rule of the path
 * has no implementation (a path cannot silently skip a rule); implementations of other paths' rules are left out.
 */
export function rulePlan<T>(
  path: RulePath,
  implementations: Readonly<Partial<Record<RuleName, T>>>,
  portable?: (rule: PortableRule) => T,
): readonly T[] {
  return rulesOf(path).map((rule) => {
    const implementation =
      implementations[rule.name as RuleName] ?? (rule.portable && portable ? portable(rule.portable) : undefined);
    if (implementation === undefined) throw new Error(`the rule "${rule.name}" has no implementation on ${path}`);
    return implementation;
  });
}
