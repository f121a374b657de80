import type { CallRules } from '@toolplane/contracts';
import { callerQuotas, type CallQuotas, type QuotaCharge } from '@toolplane/queue';
import type { ResolvedCaller } from '../identity/resolved-caller.ts';

/**
 * Quotas on the edge (ADR 0048): which of a workspace's quotas a call falls under. The counters, their keys and the
 * one Redis script that checks and charges all of a call's quotas at once (so that N edges together allow exactly the
 * limit) are `QuotaMeter` in `@toolplane/queue`, which the worker charges workflow steps with too. A call under no
 * quota pays one array test per request and nothing per call.
 */

/**
 * The quota rule's caller facts (`pipeline/caller-facts.ts`): the workspace's quotas that can apply to this caller's
 * calls on this server, for its key, person, OAuth subject or claims; undefined when none can (no cost per call).
 */
export function quotaFacts(who: ResolvedCaller): CallQuotas | undefined {
  const { access, principal: p } = who;
  if (!access.quotas?.length) return undefined;
  const subject = p.keyId === undefined && !who.identity.anonymous ? p.subject : undefined;
  return callerQuotas(access, { keyId: p.keyId, person: p.username, subject, claims: who.claims }, who.serverId);
}

export {
  callerQuotas,
  QuotaMeter,
  quotasOfTool,
  type CallQuotas,
  type ChargeOutcome,
  type QuotaCharge,
} from '@toolplane/queue';

/**
 * What a job carries of its charge: the windowed counters, which a worker gives back if the job expires queued, and
 * the calls-in-flight counters, which the worker releases when the job ends (however it ends: its call answered,
 * failed, or its cancellation finished), not the edge when the caller goes away. A held job carries none of those:
 * the edge releases them when it holds the call.
 */
export function jobCharge(charge: QuotaCharge, held = false): NonNullable<CallRules['quota']> {
  const keys: string[] = [];
  const amounts: number[] = [];
  charge.keys.forEach((k, i) => {
    if (!charge.inFlight.includes(k)) {
      keys.push(k);
      amounts.push(charge.amounts[i]!);
    }
  });
  return { keys, amounts, ...(charge.inFlight.length > 0 && !held ? { inFlight: [...charge.inFlight] } : {}) };
}
