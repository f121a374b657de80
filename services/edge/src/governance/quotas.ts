import { quotaTakesCaller, type QuotaCaller, type CallRules, type WorkspaceAccess } from '@toolplane/contracts';
import type { CallQuotas, QuotaCharge } from '@toolplane/queue';

/**
 * Quotas on the edge (ADR 0048): which of a workspace's quotas a call falls under. The counters, their keys and the
 * one Redis script that checks and charges all of a call's quotas at once (so that N edges together allow exactly the
 * limit) are `QuotaMeter` in `@toolplane/queue`, which the worker charges workflow steps with too. A call under no
 * quota pays one array test per request and nothing per call.
 */

export {
  QuotaMeter,
  quotasOfTool,
  type CallQuotas,
  type ChargeOutcome,
  type QuotaCharge,
  type QuotaRefusal,
} from '@toolplane/queue';

/** The quotas of `access` for this caller on this server; undefined (the common case) when there are none. */
export function callerQuotas(access: WorkspaceAccess, caller: QuotaCaller, serverId: string): CallQuotas | undefined {
  const all = access.quotas;
  if (!all || all.length === 0) return undefined;
  const rules = all.filter((q) => quotaTakesCaller(q, caller, serverId));
  return rules.length > 0 ? { workspaceId: access.workspaceId, rules, caller } : undefined;
}

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
