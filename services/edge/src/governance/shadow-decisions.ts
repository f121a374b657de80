import { recordShadowDecision } from '@toolplane/telemetry';

/**
 * Log-only rules (`enforce: false`: an access policy's condition, a quota) refuse nothing; what they would have
 * refused becomes an audit event (`access.would_refuse`, `quota.would_refuse`). A busy tool under such a rule must
 * not flood its workspace's chain: each edge records at most one event per rule, caller and tool per minute, and
 * counts every would-be refusal, recorded or not, in `toolplane_shadow_decisions_total`. Guardrails' findings in
 * arguments (`guardrail.<action>`) share the budget.
 */

/** Distinct rule, caller and tool triples one edge remembers in a minute; past it, nothing more is recorded then. */
const MAX_TRIPLES_PER_MINUTE = 10_000;

/** Which would-be refusals of the current minute became events, on this edge. */
export class ShadowEventBudget {
  private minute = -1;
  private readonly recorded = new Set<string>();
  private readonly max: number;
  private readonly now: () => number;
  constructor(options: { maxPerMinute?: number; now?: () => number } = {}) {
    this.max = options.maxPerMinute ?? MAX_TRIPLES_PER_MINUTE;
    this.now = options.now ?? Date.now;
  }

  /** Whether this would-be refusal is recorded: the first of its rule, caller and tool in this minute. Counted. */
  take(kind: 'access' | 'quota' | 'session', rule: string, caller: string, tool: string): boolean {
    const take = this.once(`${kind} ${rule} ${tool} ${caller}`);
    recordShadowDecision(kind, rule, take);
    return take;
  }

  /** Whether the decision `key` names (its rule, caller and tool among others) is recorded: its first this minute. */
  once(key: string): boolean {
    const minute = Math.floor(this.now() / 60_000);
    if (minute !== this.minute) {
      this.minute = minute;
      this.recorded.clear();
    }
    const take = !this.recorded.has(key) && this.recorded.size < this.max;
    if (take) this.recorded.add(key);
    return take;
  }
}

/** The caller as the budget tells callers apart: the key, else the token's subject, and the person it acts for. */
export function budgetCaller(p: {
  keyId?: string | undefined;
  subject?: string | undefined;
  username?: string | undefined;
}) {
  return `${p.keyId ?? ''}/${p.subject ?? ''}/${p.username ?? ''}`;
}
