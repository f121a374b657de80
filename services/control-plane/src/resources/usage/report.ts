import { ValidationError } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import { usageDimensions, type UsageDimension, type UsageQuery } from './schemas.ts';

/** The most rows one answer holds (its totals are always the whole range's). */
export const USAGE_ROWS_MAX = 10_000;

/** The longest range one answer covers, in days. */
const MAX_DAYS = 366;

const DAY_MS = 86_400_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The days asked for: `to` (default today, UTC) and `from` (default 29 days before `to`), both included; 422 else. */
function range(q: UsageQuery, now: number): { from: string; to: string } {
  const to = q.to ?? dayOf(now);
  const from = q.from ?? dayOf(Math.max(Date.parse('0001-01-01'), Date.parse(to) - 29 * DAY_MS));
  const problems = [];
  if (from > to) problems.push({ path: '/from', message: `must not be after to (${to})` });
  else if ((Date.parse(to) - Date.parse(from)) / DAY_MS >= MAX_DAYS)
    problems.push({ path: '/from', message: `the range may cover at most ${MAX_DAYS} days` });
  if (problems.length > 0) throw new ValidationError('the request is invalid', problems, 'request.invalid', 422);
  return { from, to };
}

/**
 * Each dimension's columns in the statement, each with the name it is answered under (the rollup's, and the names of
 * servers and keys beside their ids).
 */
const columns: Record<UsageDimension, [column: string, alias: string][]> = {
  day: [["to_char(u.day, 'YYYY-MM-DD')", 'day']],
  server: [
    ['u.server_id::text', 'server_id'],
    ['s.name', 'server_name'],
  ],
  tool: [['u.tool', 'tool']],
  api_key: [
    ['u.key_id', 'key_id'],
    ['k.name', 'key_name'],
  ],
  person: [['u.person', 'person']],
};

type Row = {
  total: boolean;
  day?: string;
  server_id?: string;
  server_name?: string | null;
  tool?: string;
  key_id?: string;
  key_name?: string | null;
  person?: string;
  calls: number;
  cost_units: number;
};

/** One row as answered: the grouped fields only (`''` in the rollup, no key or no person, is null). */
function present(r: Row, groupBy: readonly UsageDimension[]) {
  const orNull = (v: string | undefined) => (v ? v : null);
  return {
    ...(groupBy.includes('day') ? { day: r.day! } : {}),
    ...(groupBy.includes('server') ? { serverId: r.server_id!, serverName: r.server_name ?? null } : {}),
    ...(groupBy.includes('tool') ? { tool: r.tool! } : {}),
    ...(groupBy.includes('api_key') ? { apiKeyId: orNull(r.key_id), apiKeyName: r.key_name ?? null } : {}),
    ...(groupBy.includes('person') ? { person: orNull(r.person) } : {}),
    calls: Number(r.calls),
    costUnits: Number(r.cost_units),
  };
}

/**
 * `GET /usage`: sums of the usage rollup (usage/rollup.ts) over whole UTC days, grouped as asked, in one statement
 * whose grouping sets also give the totals (one snapshot: the rows add up to the totals, unless cut at
 * `USAGE_ROWS_MAX`). It never reads the records.
 */
export async function usageReport(db: Db, workspaceId: string, q: UsageQuery, now = Date.now()) {
  const { from, to } = range(q, now);
  const groupBy = q.group_by ?? [...usageDimensions];
  const params: unknown[] = [workspaceId, from, to];
  let where = 'u.workspace_id = $1::uuid AND u.day >= $2::date AND u.day <= $3::date';
  if (q.server_id) where += ` AND u.server_id = $${params.push(q.server_id)}::uuid`;
  if (q.tool) where += ` AND u.tool = $${params.push(q.tool)}`;
  if (q.api_key) where += ` AND u.key_id = $${params.push(q.api_key)}`;
  if (q.person) where += ` AND u.person = $${params.push(q.person)}`;
  const chosen = usageDimensions.filter((d) => groupBy.includes(d));
  const selected = chosen.flatMap((d) => columns[d].map(([c, alias]) => `${c} AS ${alias}`));
  const grouped = chosen.flatMap((d) => columns[d].map(([c]) => c));
  // The totals row (every column null) first, then the groups in column order.
  const rows = await db.$queryRawUnsafe<Row[]>(
    `SELECT grouping(${grouped.join(', ')}) <> 0 AS total,
       ${selected.map((c) => `${c}, `).join('')}sum(u.calls)::float8 AS calls, sum(u.cost_units)::float8 AS cost_units
     FROM usage_days u
       LEFT JOIN mcp_servers s ON s.id = u.server_id
       LEFT JOIN api_keys k ON k.id::text = u.key_id AND k.workspace_id = u.workspace_id
     WHERE ${where}
     GROUP BY GROUPING SETS ((${grouped.join(', ')}), ())
     ORDER BY 1 DESC${grouped.map((_, i) => `, ${i + 2}`).join('')}
     LIMIT ${USAGE_ROWS_MAX + 2}`,
    ...params,
  );
  const totals = rows.find((r) => r.total);
  const groups = rows.filter((r) => !r.total);
  return {
    from,
    to,
    groupBy,
    rows: groups.slice(0, USAGE_ROWS_MAX).map((r) => present(r, groupBy)),
    totals: { calls: Number(totals?.calls ?? 0), costUnits: Number(totals?.cost_units ?? 0) },
    truncated: groups.length > USAGE_ROWS_MAX,
  };
}
