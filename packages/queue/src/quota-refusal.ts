import { quotaTakesCaller, type QuotaCaller, type WorkspaceAccess } from '@toolplane/contracts';
import type { CallQuotas, QuotaRefusal } from './quota-meter.ts';

/**
 * The quota rule's pieces every path shares (ADR 0048, ADR 0076): which of a workspace's quotas take a caller on a
 * server (`callerQuotas`, then `quotasOfTool` for the tool), and what a refusal says (`quotaRefusalMessage`, with its
 * facts for a result's `_meta`): the edge's quota stage and the worker's workflow steps both use these.
 */

/** The quotas of `access` for this caller on this server; undefined (the common case) when there are none. */
export function callerQuotas(access: WorkspaceAccess, caller: QuotaCaller, serverId: string): CallQuotas | undefined {
  const all = access.quotas;
  if (!all || all.length === 0) return undefined;
  const rules = all.filter((q) => quotaTakesCaller(q, caller, serverId));
  return rules.length > 0 ? { workspaceId: access.workspaceId, rules, caller } : undefined;
}

/** A quota's limit in words: `3 calls per day`, `1 call at once`, `100 cost units per hour`. */
function quotaLimitText({ limit, counts, window }: QuotaRefusal['rule']): string {
  return counts === 'in_flight'
    ? `${limit} call${limit === 1 ? '' : 's'} at once`
    : `${limit} ${counts === 'cost' ? 'cost units' : limit === 1 ? 'call' : 'calls'} per ${window}`;
}

/**
 * Why a quota refused a call of `tool` (`call`: the caller's tool error) or a workflow's step on it (`step`: the
 * workflow's failure): the quota, its limit, when to retry.
 */
export function quotaRefusalMessage(tool: string, r: QuotaRefusal, on: 'call' | 'step'): string {
  const { name } = r.rule;
  const what = quotaLimitText(r.rule);
  return on === 'call'
    ? `Quota "${name}" (${what}) has no room for this call of "${tool}": the call was not made, nothing was sent. ` +
        `Retry after ${r.retryAfterSeconds} s.`
    : `quota "${name}" (${what}) has no room for the step's tool "${tool}": retry after ${r.retryAfterSeconds} s.`;
}

/** A refusal's facts as a refused call's result carries them (`_meta["toolplane/quota"]`). */
export function quotaRefusalFacts(r: QuotaRefusal) {
  return {
    quota: r.rule.name,
    counts: r.rule.counts,
    limit: r.rule.limit,
    ...(r.rule.window ? { window: r.rule.window } : {}),
    retryAfterSeconds: r.retryAfterSeconds,
  };
}
