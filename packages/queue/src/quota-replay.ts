import { quotaPeriod, quotaTakesTool, type QuotaRule } from '@toolplane/contracts';
import { perValue, type CallQuotas } from './quota-meter.ts';

/**
 * Quotas replayed on recorded calls in time order (the control plane's backtest, ADR 0080): the meter's charge, in
 * memory. Each windowed quota's counter is its window (`quotaPeriod` of the call's time, the quota's time zone) and its
 * `per` part, as `QuotaMeter` keys it; a call is refused when some enforced counter has no room for it (nothing is
 * charged then), else every counter is charged, log-only ones too, exactly as the meter's script does. Quotas on calls
 * in flight are not replayed (`inFlight` lists them): a record says when a call started, not what ran beside it.
 */
export interface ReplayedCharge {
  /** The enforced quota with no room (nothing charged), if any. */
  refused?: QuotaRule | undefined;
  /** The log-only quotas that had no room (charged all the same). */
  shadow: QuotaRule[];
  /** The quotas charged, by id, with their amounts (empty when refused). */
  charged: { id: string; amount: number }[];
  /** Quotas on calls in flight the call falls under: not replayed. */
  inFlight: QuotaRule[];
}

export class QuotaReplay {
  /** Counter → units used; only counters of windows still open are kept (older ones are dropped as time passes). */
  private readonly used = new Map<string, { units: number; endsAt: number }>();
  private lastSweep = 0;

  /** Charges one call made at `at` (epoch ms) of `tool`, costing `cost`. Calls must come in time order. */
  charge(quotas: CallQuotas, tool: string, cost: number, at: number): ReplayedCharge {
    this.sweep(at);
    const rules = quotas.rules.filter((q) => quotaTakesTool(q, tool));
    const inFlight = rules.filter((r) => r.counts === 'in_flight' || !r.window);
    const counters = rules
      .filter((r) => r.counts !== 'in_flight' && r.window)
      .map((rule) => {
        const period = quotaPeriod(rule.window!, rule.timeZone ?? 'UTC', at);
        const key = `${rule.id}\n${period.id}\n${perValue(rule, quotas.caller)}`;
        return { rule, key, endsAt: period.endsAt, amount: rule.counts === 'cost' ? cost : 1 };
      });
    const usedOf = (key: string) => this.used.get(key)?.units ?? 0;
    const full = counters.find((c) => c.rule.enforce && usedOf(c.key) + c.amount > c.rule.limit);
    if (full) return { refused: full.rule, shadow: [], charged: [], inFlight };
    const shadow: QuotaRule[] = [];
    for (const c of counters) {
      const units = usedOf(c.key) + c.amount;
      if (units > c.rule.limit) shadow.push(c.rule);
      this.used.set(c.key, { units, endsAt: c.endsAt });
    }
    return { shadow, charged: counters.map((c) => ({ id: c.rule.id, amount: c.amount })), inFlight };
  }

  /** Forgets the counters of windows that ended (at most once a minute of replayed time): memory stays bounded. */
  private sweep(at: number): void {
    if (at - this.lastSweep < 60_000) return;
    this.lastSweep = at;
    for (const [key, c] of this.used) if (c.endsAt <= at) this.used.delete(key);
  }
}
