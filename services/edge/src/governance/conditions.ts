import type { CallConditions } from '@toolplane/access';
import { conditionCallerOf, type ResolvedCaller } from '../identity/resolved-caller.ts';

/**
 * The access rule's caller facts (`pipeline/caller-facts.ts`): the grants with a condition that apply to this caller
 * (ADR 0036), and the caller as their conditions read it (`caller.*`); undefined when none applies (the access stage
 * then costs one test).
 */
export function conditionFacts(who: ResolvedCaller): CallConditions | undefined {
  return who.conditions ? { rules: who.conditions, caller: conditionCallerOf(who) } : undefined;
}
