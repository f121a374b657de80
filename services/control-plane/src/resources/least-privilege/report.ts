import type { Db } from '../../db/client.ts';
import { checkedPeriod, QUERY_DATE_MIN_MS } from '../../http/query-date.ts';
import { workspaceAccess } from '../access-policies/publish.ts';
import {
  findingsOf,
  peaksOf,
  principalsOf,
  PRINCIPALS_MAX,
  serverTools,
  useOf,
  type FindingRow,
  type Period,
  type PrincipalKey,
  type ServerTools,
  type UseRow,
} from './aggregate.ts';
import { grantsOf, type Granted, type KeyFacts } from './grants.ts';
import { narrowestPolicies, peakQuotas } from './propose.ts';
import type { LeastPrivilegeQuery } from './schemas.ts';

/** The longest period one answer covers. */
export const MAX_DAYS = 31;
const DAY_MS = 86_400_000;

/** The period asked for: `to` (default now) and `from` (default 7 days before), `from` < `to`, ≤ 31 days; 422 else. */
function periodOf(q: { from?: Date | undefined; to?: Date | undefined }, now: number) {
  const to = q.to ?? new Date(now);
  const from = q.from ?? new Date(Math.max(QUERY_DATE_MIN_MS, to.getTime() - 7 * DAY_MS));
  return checkedPeriod(from, to, MAX_DAYS);
}

type Named = PrincipalKey & { name: string };

/** Each row's principal as `type:id`. */
const keyOf = (p: PrincipalKey) => `${p.type}:${p.id}`;
function byPrincipal<T extends PrincipalKey>(rows: readonly T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const r of rows) map.set(keyOf(r), [...(map.get(keyOf(r)) ?? []), r]);
  return map;
}

/** The tools called per server (those access refused too, each with its counts), servers by name. */
function usedOf(use: readonly UseRow[], names: ReadonlyMap<string, string>) {
  const servers = new Map<string, UseRow[]>();
  for (const u of use) servers.set(u.server_id, [...(servers.get(u.server_id) ?? []), u]);
  return {
    servers: [...servers].map(([id, rows]) => ({
      id,
      name: names.get(id) ?? null,
      tools: rows.map((r) => ({ tool: r.tool, calls: r.calls, errors: r.errors, refused: r.refused })),
    })),
  };
}

/** The granted servers and tools no call (that ran) used. */
function unusedOf(granted: Granted, use: readonly UseRow[]) {
  const called = new Set(use.filter((u) => u.calls > 0).map((u) => `${u.server_id}\n${u.tool}`));
  const usedServers = new Set(use.filter((u) => u.calls > 0).map((u) => u.server_id));
  return {
    servers: granted.servers.filter((s) => !usedServers.has(s.id)).map((s) => ({ id: s.id, name: s.name })),
    tools: granted.servers.flatMap((s) =>
      s.tools.filter((t) => !called.has(`${s.id}\n${t}`)).map((tool) => ({ serverId: s.id, serverName: s.name, tool })),
    ),
  };
}

const findingOut = (f: FindingRow, names: ReadonlyMap<string, string>) => ({
  serverId: f.server_id,
  serverName: names.get(f.server_id) ?? null,
  tool: f.tool,
  detector: f.detector,
  on: f.on,
  calls: f.calls,
  lastAt: new Date(f.last_at).toISOString(),
});

/** The principals' names: keys' (null for a key deleted since: it grants nothing), people's are their names. */
async function keysOf(db: Db, workspaceId: string, principals: readonly PrincipalKey[]) {
  const ids = principals.filter((p) => p.type === 'api_key').map((p) => p.id);
  const rows = await db.$queryRawUnsafe<(KeyFacts & { id: string })[]>(
    `SELECT id::text AS id, name, server_ids AS "serverIds" FROM api_keys
     WHERE workspace_id = $1::uuid AND id::text = ANY($2::text[])`,
    workspaceId,
    ids,
  );
  return new Map(rows.map((k) => [k.id, k]));
}

/** Everything one principal's entry says. */
interface Facts {
  period: Period;
  margin: number;
  servers: readonly ServerTools[];
  names: ReadonlyMap<string, string>;
  label: string;
}

function entry(
  facts: Facts,
  principal: Named,
  granted: Granted,
  rows: { use: UseRow[]; peaks: Parameters<typeof peakQuotas>[1]; findings: FindingRow[] },
) {
  return {
    principal: { type: principal.type, id: principal.id, name: principal.name },
    calls: rows.use.reduce((n, u) => n + u.calls, 0),
    refused: rows.use.reduce((n, u) => n + u.refused, 0),
    granted,
    used: usedOf(rows.use, facts.names),
    unused: unusedOf(granted, rows.use),
    policies: narrowestPolicies(principal, rows.use, facts.names, facts.label),
    quotas: peakQuotas(principal, rows.peaks, facts.margin),
    findings: rows.findings.map((f) => findingOut(f, facts.names)),
  };
}
export type LeastPrivilegeEntry = ReturnType<typeof entry>;

/**
 * `GET /least_privilege`: per API key and person with records in the period (the busiest `PRINCIPALS_MAX`), what
 * they may call against what they called, the narrowest policies and peak quotas, and the secrets-like and personal
 * data findings on their tools. Four aggregate statements over the period's records, one read of the policies.
 */
export async function leastPrivilege(db: Db, workspaceId: string, q: LeastPrivilegeQuery, now = Date.now()) {
  const { from, to } = periodOf(q, now);
  const period = { workspaceId, from, to };
  const found = await principalsOf(db, period, q.principal);
  const principals = found.slice(0, PRINCIPALS_MAX).map(({ type, id }) => ({ type, id }));
  const [use, peaks, findings, servers, access, keys] = await Promise.all([
    useOf(db, period, principals),
    peaksOf(db, period, principals),
    findingsOf(db, period, principals),
    serverTools(db, workspaceId),
    workspaceAccess(db, workspaceId),
    keysOf(db, workspaceId, principals),
  ]);
  const names = new Map(servers.map((s) => [s.id, s.name]));
  const label = `${from.toISOString()} to ${to.toISOString()}`;
  const facts: Facts = { period, margin: q.margin, servers, names, label };
  const [u, p, f] = [byPrincipal(use), byPrincipal(peaks), byPrincipal(findings)];
  return {
    period: { from: from.toISOString(), to: to.toISOString() },
    margin: q.margin,
    principals: principals.map((pk) => {
      const key = pk.type === 'api_key' ? keys.get(pk.id) : undefined;
      const named = { ...pk, name: pk.type === 'api_key' ? (key?.name ?? pk.id) : pk.id };
      const granted = grantsOf(access, pk, servers, key);
      const k = keyOf(pk);
      return entry(facts, named, granted, { use: u.get(k) ?? [], peaks: p.get(k) ?? [], findings: f.get(k) ?? [] });
    }),
    truncated: found.length > PRINCIPALS_MAX,
  };
}
