import type { Cluster, Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import {
  quotaAlertKey,
  quotaCounterKey,
  quotaPeriod,
  quotaTakesTool,
  twinKeys,
  type QuotaCaller,
  type QuotaPeriod,
  type QuotaRule,
  type QuotaWindow,
} from '@toolplane/contracts';
import { giveBackQuota, runScript } from './quota-refunds.ts';

/**
 * The quota meter (ADR 0048): which counters a call of a tool charges (their keys: the layout every edge, worker and
 * the usage API read), and one Redis script that checks and charges all of them at once, so that N edges and workers
 * together allow exactly the limit. The edge charges a call with it before the enqueue; the worker charges a workflow's
 * step on a hosted server's tool with it, as a direct call of that tool would be (the same counters).
 */

/** The quotas that can apply to one caller's calls on one server, found once per request; the tool decides the rest. */
export interface CallQuotas {
  readonly workspaceId: string;
  readonly rules: readonly QuotaRule[];
  readonly caller: QuotaCaller;
}

/** The quotas a call of `tool` falls under. */
export function quotasOfTool(quotas: CallQuotas, tool: string): QuotaRule[] {
  return quotas.rules.filter((q) => quotaTakesTool(q, tool));
}

/** Each quota's counter for this call, its amount, how long the key lives, and when its window resets. */
interface Counter {
  readonly rule: QuotaRule;
  readonly key: string;
  /** Its alert marker (windowed counters only: calls in flight have no window to alert once in). */
  readonly alertKey: string | undefined;
  /** The window's id (`now` for calls in flight). */
  readonly period: string;
  readonly amount: number;
  readonly ttlSeconds: number;
  /** Epoch ms; undefined for calls in flight (room comes back when one ends). */
  readonly resetsAt: number | undefined;
}

/** A quota that had no room: the tool error says which, its limit, and when to retry. */
export interface QuotaRefusal {
  readonly rule: QuotaRule;
  /** What its counter held before this call. */
  readonly used: number;
  /** Seconds until the window resets (calls in flight: a guess of 1 s, room comes back when a call ends). */
  readonly retryAfterSeconds: number;
}

/** A counter this charge brought to 80 % or 100 % of its limit, the first time in its window across every edge. */
interface QuotaAlert {
  readonly rule: QuotaRule;
  readonly threshold: 80 | 100;
  /** What the counter holds after this charge. */
  readonly used: number;
  /** The window's id (`2026-11-27`, `2026-11`, `2026-11-27T14`…). */
  readonly period: string;
}

/** How full a quota is, as this meter saw it: the highest used/limit of its counters in the current window. */
export interface QuotaUse {
  readonly rule: QuotaRule;
  readonly fraction: number;
}

/** What a charged call holds until it ends: the counters it charged (given back on refund, in flight released). */
export interface QuotaCharge {
  readonly keys: readonly string[];
  readonly amounts: readonly number[];
  /** The keys of calls-in-flight counters (released when the call ends, whatever its outcome). */
  readonly inFlight: readonly string[];
}

/** What every outcome says besides refused or charged: the quotas' use (metrics). */
interface Seen {
  readonly uses: readonly QuotaUse[];
}

export type ChargeOutcome =
  | (Seen & { readonly refused: QuotaRefusal; readonly shadow: readonly QuotaRefusal[]; readonly alerts: readonly [] })
  | (Seen & {
      readonly refused?: undefined;
      readonly charge: QuotaCharge;
      readonly shadow: readonly QuotaRefusal[];
      readonly alerts: readonly QuotaAlert[];
    });

/** What of a charge to give back: the windowed counters (nothing ran), the calls-in-flight ones (the call ended). */
export interface QuotaRelease {
  readonly windowed: boolean;
  readonly inFlight: boolean;
}

/**
 * KEYS: the counters, then one alert marker per counter. ARGV: per counter, limit, amount, ttl seconds, enforce (1/0),
 * alerts (1/0). Every enforced counter must have room, else nothing is charged and the answer is `{i, used}` of the
 * first without. Otherwise all are charged (shadow ones too) and the answer is `{0, used_1 … used_n}` (each after its
 * charge; a shadow counter past its limit had no room), then a pair `i, threshold` for each counter this charge
 * brought to 80 or 100 % the first time in its window: the marker's field is set once (`HSETNX`), whatever is given
 * back and charged again, and lives as long as the counter. A counter under 80 % pays no marker command.
 */
const CHARGE = `
local n = #KEYS / 2
for i = 1, n do
  local b = (i - 1) * 5
  if ARGV[b + 4] == '1' then
    local used = tonumber(redis.call('GET', KEYS[i]) or '0')
    if used + tonumber(ARGV[b + 2]) > tonumber(ARGV[b + 1]) then return {i, used} end
  end
end
local answer = {0}
local crossed = {}
for i = 1, n do
  local b = (i - 1) * 5
  local used = redis.call('INCRBY', KEYS[i], ARGV[b + 2])
  redis.call('EXPIRE', KEYS[i], ARGV[b + 3])
  answer[i + 1] = used
  if ARGV[b + 5] == '1' then
    local limit = tonumber(ARGV[b + 1])
    for _, t in ipairs({80, 100}) do
      if used * 100 >= limit * t and redis.call('HSETNX', KEYS[n + i], t, used) == 1 then
        redis.call('EXPIRE', KEYS[n + i], ARGV[b + 3])
        crossed[#crossed + 1] = i
        crossed[#crossed + 1] = t
      end
    end
  end
end
for _, v in ipairs(crossed) do answer[#answer + 1] = v end
return answer
`;

/** The window a counter covers, kept until it ends (the hot path computes a calendar window once per window). */
class Periods {
  private readonly current = new Map<string, QuotaPeriod>();
  of(unit: QuotaWindow, zone: string, now: number): QuotaPeriod {
    const id = `${unit} ${zone}`;
    const hit = this.current.get(id);
    if (hit && now < hit.endsAt && now >= hit.endsAt - windowMs[unit]) return hit;
    const p = quotaPeriod(unit, zone, now);
    this.current.set(id, p);
    return p;
  }
}

/** The longest a window of each unit lasts (a month: 31 days, a day across a clock change: 25 h). */
const windowMs: Record<QuotaWindow, number> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 25 * 3_600_000,
  month: 31 * 86_400_000,
};

/**
 * A `per` counter's last key part: `k:<key id>`, `p:<person>`, `s:<subject>`; a caller without one counts as `k`, `p`
 * or `s` alone (no colon), which no value can spell (a person named `-` is `p:-`, not the callers acting as no one).
 */
export function perValue(rule: QuotaRule, c: QuotaCaller): string {
  const part = (tag: string, value: string | undefined) => (value === undefined ? tag : `${tag}:${value}`);
  switch (rule.per) {
    case 'api_key':
      return part('k', c.keyId);
    case 'person':
      return part('p', c.person);
    case 'subject':
      return part('s', c.subject);
    default:
      return '*';
  }
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** When a charge is made, and whether it is a staging twin's. */
interface ChargeAt {
  now: number;
  twin: boolean;
}

/** Checks and charges quotas in Redis, shared by every edge and worker. */
export class QuotaMeter {
  private readonly periods = new Periods();
  /** Per quota id: the highest used/limit seen in its window (a few numbers per quota, whatever `per` splits). */
  private readonly highest = new Map<string, { period: string; fraction: number }>();
  private readonly chargeScript = { body: CHARGE, sha: sha1(CHARGE) };
  private readonly redis: Redis | Cluster;
  private readonly prefix: string;
  /** How long a calls-in-flight counter outlives its last charge (a crashed process's calls stop counting then). */
  private readonly inFlightTtlSeconds: number;
  constructor(redis: Redis | Cluster, prefix: string, inFlightTtlSeconds: number) {
    this.redis = redis;
    this.prefix = prefix;
    this.inFlightTtlSeconds = inFlightTtlSeconds;
  }

  private counters(quotas: CallQuotas, rules: readonly QuotaRule[], cost: number, at: ChargeAt): Counter[] {
    const { now, twin } = at;
    // The staging twin's calls count in counters of their own (ADR 0112): `<prefix>:twin:quota:…`.
    const prefix = twin ? twinKeys(this.prefix).prefix : this.prefix;
    return rules.map((rule) => {
      const per = perValue(rule, quotas.caller);
      if (rule.counts === 'in_flight' || !rule.window) {
        const key = quotaCounterKey(prefix, quotas.workspaceId, { quotaId: rule.id, period: 'now', per });
        const ttlSeconds = this.inFlightTtlSeconds;
        return { rule, key, alertKey: undefined, period: 'now', amount: 1, ttlSeconds, resetsAt: undefined };
      }
      const period = this.periods.of(rule.window, rule.timeZone ?? 'UTC', now);
      const counter = { quotaId: rule.id, period: period.id, per };
      const key = quotaCounterKey(prefix, quotas.workspaceId, counter);
      const alertKey = quotaAlertKey(prefix, quotas.workspaceId, counter);
      const amount = rule.counts === 'cost' ? cost : 1;
      // The counter outlives its window by a minute: a usage read at the edge of a window still finds it.
      const ttlSeconds = Math.ceil((period.endsAt - now) / 1000) + 60;
      return { rule, key, alertKey, period: period.id, amount, ttlSeconds, resetsAt: period.endsAt };
    });
  }

  /**
   * One script for all of a call's quotas: refused (nothing charged), or charged. Redis errors are thrown. `twin`: a
   * staging twin's call, charged to the twin's counters (ADR 0112).
   */
  async charge(quotas: CallQuotas, rules: readonly QuotaRule[], cost: number, twin = false): Promise<ChargeOutcome> {
    const now = Date.now();
    const counters = this.counters(quotas, rules, cost, { now, twin });
    const args = counters.flatMap((c) => [
      c.rule.limit,
      c.amount,
      c.ttlSeconds,
      c.rule.enforce ? 1 : 0,
      c.alertKey === undefined ? 0 : 1,
    ]);
    // A counter without a marker (calls in flight) names itself in the marker's place: the script never touches it.
    const keys = [...counters.map((c) => c.key), ...counters.map((c) => c.alertKey ?? c.key)];
    const answer = (await runScript(this.redis, this.chargeScript, keys, args)) as number[];
    const refusal = (c: Counter, used: number): QuotaRefusal => {
      const retryAfterSeconds = c.resetsAt === undefined ? 1 : Math.max(1, Math.ceil((c.resetsAt - now) / 1000));
      return { rule: c.rule, used, retryAfterSeconds };
    };
    if (answer[0]! > 0) {
      const c = counters[answer[0]! - 1]!;
      const used = answer[1]!;
      return { refused: refusal(c, used), shadow: [], alerts: [], uses: [this.use(c, used)] };
    }
    const used = answer.slice(1, counters.length + 1);
    const shadow = counters
      .map((c, i) => (used[i]! > c.rule.limit ? refusal(c, used[i]! - c.amount) : undefined))
      .filter((r) => r !== undefined);
    const alerts: QuotaAlert[] = [];
    for (let j = counters.length + 1; j < answer.length; j += 2) {
      const c = counters[answer[j]! - 1]!;
      alerts.push({
        rule: c.rule,
        threshold: answer[j + 1] as 80 | 100,
        used: used[answer[j]! - 1]!,
        period: c.period,
      });
    }
    const charge = {
      keys: counters.map((c) => c.key),
      amounts: counters.map((c) => c.amount),
      inFlight: counters.filter((c) => c.resetsAt === undefined).map((c) => c.key),
    };
    return { charge, shadow, alerts, uses: counters.map((c, i) => this.use(c, used[i]!)) };
  }

  /** The highest used/limit this meter saw of the quota's counters in its current window (in flight: the last). */
  private use(c: Counter, used: number): QuotaUse {
    const fraction = c.rule.limit > 0 ? used / c.rule.limit : used > 0 ? 1 : 0;
    const seen = this.highest.get(c.rule.id);
    if (c.resetsAt !== undefined && seen?.period === c.period && seen.fraction >= fraction)
      return { rule: c.rule, fraction: seen.fraction };
    this.highest.set(c.rule.id, { period: c.period, fraction });
    return { rule: c.rule, fraction };
  }

  /** Gives back what `what` names of a charge: its windowed units (nothing ran), its calls in flight (it ended). */
  async release(charge: QuotaCharge, what: QuotaRelease): Promise<void> {
    const keys: string[] = [];
    const amounts: number[] = [];
    charge.keys.forEach((k, i) => {
      if (charge.inFlight.includes(k) ? what.inFlight : what.windowed) {
        keys.push(k);
        amounts.push(charge.amounts[i]!);
      }
    });
    await giveBackQuota(this.redis, { keys, amounts });
  }
}
