import type { RuleName } from '@toolplane/access';
import { conditionFacts } from '../governance/conditions.ts';
import { quotaFacts } from '../governance/quotas.ts';
import { sessionFacts } from '../governance/sessions.ts';
import { delegationFacts } from '../identity/delegated-tokens.ts';
import type { ResolvedCaller } from '../identity/resolved-caller.ts';

/**
 * What each rule knows of the caller before any call: one derivation per rule, under its name in the one list of rules
 * (`rules` in @toolplane/access), each written next to its rule, from what authentication resolved
 * (`ResolvedCaller`). `authenticate` runs them once per request (`callerFactsOf`) and names none of them; the
 * caller's and each call's `facts` are typed from this table (`CallerFacts`), so a rule with caller facts of its own
 * adds one line here and nothing to the authenticator or the call's type. A derivation answers undefined for a caller
 * the rule cannot apply to: the rule's stage then costs one test. Portable rules (ADR 0101) have no entry: each derives
 * its facet from the principal when it runs.
 */
const derivations = {
  delegation: delegationFacts,
  access: conditionFacts,
  session: sessionFacts,
  quota: quotaFacts,
} as const satisfies { readonly [R in RuleName]?: (who: ResolvedCaller) => unknown };

/** Each rule's facts about one caller, under the rule's name; a rule with nothing to say of this caller is absent. */
export type CallerFacts = {
  readonly [R in keyof typeof derivations]?: NonNullable<ReturnType<(typeof derivations)[R]>>;
};

/** The names of the rules with caller facts, in the table's order. */
export const callerFactRules = Object.keys(derivations) as readonly (keyof CallerFacts)[];

const derive = Object.values(derivations) as readonly ((who: ResolvedCaller) => unknown)[];

/** The facts of a caller no rule has anything to say of: shared, never written. */
const NONE: CallerFacts = Object.freeze({});

/** Every rule's facts about the caller, each derived once; a caller no rule applies to gets the shared empty set. */
export function callerFactsOf(who: ResolvedCaller): CallerFacts {
  let facts: Record<string, unknown> | undefined;
  for (let i = 0; i < derive.length; i++) {
    const fact = derive[i]!(who);
    if (fact !== undefined) (facts ??= {})[callerFactRules[i]!] = fact;
  }
  return facts ?? NONE;
}
