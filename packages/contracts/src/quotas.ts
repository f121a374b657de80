import { z } from 'zod';

/**
 * Quotas and budgets (ADR 0048): how much a caller may use, not only what. A quota applies to the calls
 * its `match` selects (every given field must hold; an absent field matches all), counts calls, cost units or calls
 * in flight, over a calendar window in a time zone, and is enforced on the edge before the enqueue, atomically across
 * every edge (one Redis script per call for all of a call's quotas). Published to the edges with the workspace's
 * access policies (`WorkspaceAccess.quotas`).
 */

export const quotaWindows = ['minute', 'hour', 'day', 'month'] as const;
export type QuotaWindow = (typeof quotaWindows)[number];

/** What one quota counts: calls, cost units (a tool's declared cost, default 1), or calls running at once. */
export const quotaCounts = ['calls', 'cost', 'in_flight'] as const;

/** One counter per caller of this kind instead of one shared by all the quota's callers. */
export const quotaPer = ['api_key', 'person', 'subject'] as const;

/** A claim of the caller's OAuth token that must hold (`groups` contains `support`; a string claim equals it). */
const QuotaClaim = z.strictObject({ claim: z.string().min(1).max(200), contains: z.string().min(1).max(200) });

export const QuotaMatch = z.strictObject({
  /** API key ids. */
  apiKeys: z.array(z.string().min(1)).optional(),
  /** External users (people) by name. */
  people: z.array(z.string().min(1)).optional(),
  /** OAuth subjects (`sub`). */
  subjects: z.array(z.string().min(1)).optional(),
  claims: z.array(QuotaClaim).optional(),
  /** Server ids. */
  servers: z.array(z.string().min(1)).optional(),
  /** Tool names, or patterns with `*` (`send_*`). */
  tools: z.array(z.string().min(1)).optional(),
});
export type QuotaMatch = z.infer<typeof QuotaMatch>;

/** A quota as the edges enforce it. */
export const QuotaRule = z.object({
  id: z.string(),
  name: z.string(),
  match: QuotaMatch,
  counts: z.enum(quotaCounts),
  limit: z.number().int().nonnegative(),
  /** Calls and cost: the calendar window the counter covers (absent for `in_flight`). */
  window: z.enum(quotaWindows).optional(),
  /** The IANA time zone the window's calendar is read in (default UTC). */
  timeZone: z.string().optional(),
  per: z.enum(quotaPer).optional(),
  /** false: shadow mode, refuses nothing and records what it would have refused (`quota.would_refuse`). */
  enforce: z.boolean(),
});
export type QuotaRule = z.infer<typeof QuotaRule>;

/** What quotas know of a caller (`match` and `per`). */
export interface QuotaCaller {
  readonly keyId?: string | undefined;
  /** The external user the call acts as. */
  readonly person?: string | undefined;
  readonly subject?: string | undefined;
  readonly claims?: Readonly<Record<string, unknown>> | undefined;
}

function claimHolds(claims: QuotaCaller['claims'], claim: string, value: string): boolean {
  const v = claims?.[claim];
  return Array.isArray(v) ? v.includes(value) : v === value;
}

/** Whether a quota's `match` takes this caller's calls on this server (its tools decided by `quotaTakesTool`). */
export function quotaTakesCaller(rule: QuotaRule, c: QuotaCaller, serverId: string): boolean {
  const m = rule.match;
  return (
    (!m.servers || m.servers.includes(serverId)) &&
    (!m.apiKeys || (c.keyId !== undefined && m.apiKeys.includes(c.keyId))) &&
    (!m.people || (c.person !== undefined && m.people.includes(c.person))) &&
    (!m.subjects || (c.subject !== undefined && m.subjects.includes(c.subject))) &&
    (!m.claims || m.claims.every((x) => claimHolds(c.claims, x.claim, x.contains)))
  );
}

/** Whether a quota's `match` takes calls of this tool. */
export function quotaTakesTool(rule: QuotaRule, tool: string): boolean {
  return !rule.match.tools || rule.match.tools.some((p) => toolPatternMatches(p, tool));
}

/** A tool pattern: the name itself, or `*` standing for any run of characters. */
export function toolPatternMatches(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  const parts = pattern.split('*');
  if (!name.startsWith(parts[0]!) || !name.endsWith(parts.at(-1)!)) return false;
  let at = parts[0]!.length;
  for (const part of parts.slice(1, -1)) {
    const found = name.indexOf(part, at);
    if (found < 0) return false;
    at = found + part.length;
  }
  return at <= name.length - parts.at(-1)!.length;
}

/** Whether a time zone is one this runtime knows (an unknown one is a 422 on the API). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** One window of a quota's calendar: its id (part of the counter's key) and when it ends (epoch ms). */
export interface QuotaPeriod {
  readonly id: string;
  readonly endsAt: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock fields of `at` in `zone`. */
function wallClock(zone: string, at: number): [number, number, number, number, number] {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(zone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(at).map((p) => [p.type, p.value]));
  return [Number(parts.year), Number(parts.month), Number(parts.day), Number(parts.hour), Number(parts.minute)];
}

/** The instant a wall-clock time in `zone` names (the later one where a clock change makes it ambiguous). */
function instantOf(zone: string, [y, mo, d, h, mi]: [number, number, number, number, number]): number {
  const asUtc = Date.UTC(y, mo - 1, d, h, mi);
  let at = asUtc;
  for (let i = 0; i < 3; i++) {
    const [wy, wmo, wd, wh, wmi] = wallClock(zone, at);
    const shown = Date.UTC(wy, wmo - 1, wd, wh, wmi);
    if (shown === asUtc) return at;
    at += asUtc - shown;
  }
  return at;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The window of `unit` in `zone` that holds `at`. */
export function quotaPeriod(unit: QuotaWindow, zone: string, at: number): QuotaPeriod {
  const [y, mo, d, h, mi] = wallClock(zone, at);
  switch (unit) {
    case 'minute':
      return { id: `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}`, endsAt: instantOf(zone, [y, mo, d, h, mi + 1]) };
    case 'hour':
      return { id: `${y}-${pad(mo)}-${pad(d)}T${pad(h)}`, endsAt: instantOf(zone, [y, mo, d, h + 1, 0]) };
    case 'day':
      return { id: `${y}-${pad(mo)}-${pad(d)}`, endsAt: instantOf(zone, [y, mo, d + 1, 0, 0]) };
    case 'month':
      return { id: `${y}-${pad(mo)}`, endsAt: instantOf(zone, [y, mo + 1, 1, 0, 0]) };
  }
}

/**
 * A quota counter's key. Every counter of a workspace shares the hash tag `{q:<workspace>}`, so that one script
 * may touch all of a call's counters on a Redis Cluster (ADR 0048).
 */
export function quotaCounterKey(
  prefix: string,
  workspaceId: string,
  counter: { quotaId: string; period: string; per: string },
): string {
  return `${prefix}:quota:{q:${workspaceId}}:${counter.quotaId}:${counter.period}:${counter.per}`;
}

/**
 * Where a counter's alerts are marked (the thresholds its window reached already, each set once): the same hash tag
 * as the counter, so the charge script touches both on a Redis Cluster; outside the counters' `quota:` prefix, so a
 * reader of counters never takes a marker for one.
 */
export function quotaAlertKey(
  prefix: string,
  workspaceId: string,
  counter: { quotaId: string; period: string; per: string },
): string {
  return `${prefix}:quota-alert:{q:${workspaceId}}:${counter.quotaId}:${counter.period}:${counter.per}`;
}
