import { type Router } from 'express';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { QUERY_DATE_MAX_MS, QUERY_DATE_MIN_MS, QueryDate } from '../http/query-date.ts';
import { apiRouter } from '../http/route-access.ts';

/**
 * The traffic rollup (table `execution_stats_minutes`, and `execution_stats_ten_minutes`, the same per
 * 10 minutes, for the day's figures): one row per server, tool and minute of the
 * records' own `started_at`, with the calls, the errors (every outcome but `success`), the sum and the
 * maximum of the durations, and a fixed latency histogram. It is written by the same statement that
 * stores the records (execution-records.ts), from the rows that statement inserted: a batch delivered
 * again inserts no record and adds nothing. `GET /stats` sums rows in one statement; it never scans the records.
 *
 * The histogram's bounds (ms) are part of the table's meaning: bucket `k` (0-based) counts the calls
 * with `LATENCY_BOUNDS_MS[k-1] <= duration < LATENCY_BOUNDS_MS[k]` (bucket 0: below the first bound,
 * the last bucket: the last bound and above). Changing them needs a migration of the stored rows.
 */
export const LATENCY_BOUNDS_MS = [
  1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000,
  15_000, 30_000, 60_000,
] as const;
export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

const indexes = Array.from({ length: LATENCY_BUCKETS }, (_, k) => k);

/** The rollup's tables: per minute (the hour's figures), and per 10 minutes (the day's: 144 rows per tool). */
const rollupTables = { minute: 'execution_stats_minutes', tenMinutes: 'execution_stats_ten_minutes' } as const;

/** One rollup table's upsert from the `bucketed` CTE; `period` is the start of the row's period. */
function upsert(table: string, period: string): string {
  return `INSERT INTO ${table} (workspace_id, server_id, tool, minute, calls, errors, duration_sum_ms,
    duration_max_ms, latency_buckets)
  SELECT workspace_id, server_id, tool, ${period} AS period, count(*)::int,
    (count(*) FILTER (WHERE outcome <> 'success'))::int, sum(duration_ms), max(duration_ms),
    ARRAY[${indexes.map((k) => `(count(*) FILTER (WHERE k = ${k}))::int`).join(', ')}]
  FROM bucketed
  GROUP BY workspace_id, server_id, tool, period
  ORDER BY server_id, tool, period
  ON CONFLICT (server_id, tool, minute) DO UPDATE SET
    calls = ${table}.calls + EXCLUDED.calls,
    errors = ${table}.errors + EXCLUDED.errors,
    duration_sum_ms = ${table}.duration_sum_ms + EXCLUDED.duration_sum_ms,
    duration_max_ms = greatest(${table}.duration_max_ms, EXCLUDED.duration_max_ms),
    latency_buckets = ARRAY[${indexes.map((k) => `${table}.latency_buckets[${k + 1}] + EXCLUDED.latency_buckets[${k + 1}]`).join(', ')}]`;
}

/**
 * The statement's tail that turns the inserted records (a CTE named `inserted` with workspace_id,
 * server_id, tool, started_at, duration_ms, outcome) into increments of both rollup tables. Rows are
 * upserted in key order so that two replicas storing batches at once take the row locks in the same order.
 */
export const rollupUpsertSql = `,
  bucketed AS (
    SELECT workspace_id, server_id, tool, started_at, outcome, duration_ms,
      width_bucket(duration_ms, ARRAY[${LATENCY_BOUNDS_MS.join(', ')}]::float8[]) AS k
    FROM inserted
  ),
  per_minute AS (${upsert(rollupTables.minute, "date_trunc('minute', started_at)")} RETURNING 1)
  ${upsert(rollupTables.tenMinutes, "date_bin('10 minutes', started_at, TIMESTAMP '2000-01-01')")}`;

/**
 * The latency at quantile `q` from a histogram: the upper bound of the bucket holding the call of rank
 * ⌈q·n⌉, never more than the largest duration seen (the last bucket has no bound: the largest duration).
 * Null without calls.
 */
export function quantileFromBuckets(buckets: readonly number[], q: number, maxMs: number): number | null {
  const n = buckets.reduce((a, b) => a + b, 0);
  if (n === 0) return null;
  const rank = Math.max(1, Math.ceil(q * n));
  let seen = 0;
  for (let k = 0; k < buckets.length; k++) {
    seen += buckets[k]!;
    if (seen >= rank) return Math.min(LATENCY_BOUNDS_MS[k] ?? maxMs, maxMs);
  }
  return maxMs;
}

/** Figures of a set of rollup rows: calls, errors, error rate (errors / calls, 0 without calls), p50, p95. */
function figures(calls: number, errors: number, buckets: readonly number[], maxMs: number) {
  return {
    calls,
    errors,
    error_rate: calls === 0 ? 0 : errors / calls,
    p50_ms: quantileFromBuckets(buckets, 0.5, maxMs),
    p95_ms: quantileFromBuckets(buckets, 0.95, maxMs),
  };
}

/** Each window reads the table whose period is its step; its end is rounded up to a whole step. */
const windows = {
  '1h': { ms: 3_600_000, stepSeconds: 60, table: rollupTables.minute },
  '24h': { ms: 86_400_000, stepSeconds: 600, table: rollupTables.tenMinutes },
};

export const StatsQuery = z.object({
  window: z.enum(['1h', '24h']).default('1h'),
  server_id: z.string().uuid().optional(),
  tool: z.string().min(1).optional(),
  /** The window's end (default now), rounded up to a whole step (a minute; 10 minutes for 24h). */
  to: QueryDate.optional(),
  /** How many tools the two top lists hold. */
  top: z.coerce.number().int().min(1).max(50).default(10),
});

type SeriesRow = { minute_ms: number; calls: number; errors: number; max_ms: number; buckets: number[] };
type ToolRow = { server_id: string; tool: string; calls: number; errors: number };

const bucketSums = indexes.map((k) => `sum(latency_buckets[${k + 1}])::float8`).join(', ');

/** `GET /stats`: the workspace's traffic (or one server's, or one tool's) over the last hour or day. */
export function statsRouter(db: Db): Router {
  const r = apiRouter();
  r.get('/', async (req, res) => {
    res.json(await trafficStats(db, caller(req).workspaceId, StatsQuery.parse(req.query)));
  });
  return r;
}

/**
 * The figures of `GET /stats` for a workspace: one aggregate statement over the rollup, grouped both per
 * minute (the series and totals) and per server and tool (the top lists), so that every figure of a response
 * comes from one snapshot. Two statements would each see the batches committed by their own start: a read
 * during a store could show tools that do not add up to the totals.
 */
async function trafficStats(db: Db, workspaceId: string, q: z.infer<typeof StatsQuery>) {
  const { ms, stepSeconds, table } = windows[q.window];
  const stepMs = stepSeconds * 1000;
  // Whole steps, and a window within the years 1 to 9999 (PostgreSQL's ISO input): the first hour or day of year 1
  // ends an hour or a day after it starts, the last one at its last whole step.
  const end = Math.min(
    Math.max(
      Math.ceil((q.to ?? new Date()).getTime() / stepMs) * stepMs,
      Math.ceil(QUERY_DATE_MIN_MS / stepMs) * stepMs + ms,
    ),
    Math.floor(QUERY_DATE_MAX_MS / stepMs) * stepMs,
  );
  const start = end - ms;
  const params: unknown[] = [workspaceId, new Date(start).toISOString(), new Date(end).toISOString()];
  let where = 'workspace_id = $1::uuid AND minute >= $2::timestamp(3) AND minute < $3::timestamp(3)';
  if (q.server_id) where += ` AND server_id = $${params.push(q.server_id)}::uuid`;
  if (q.tool) where += ` AND tool = $${params.push(q.tool)}`;
  const rows = await db.$queryRawUnsafe<(SeriesRow & ToolRow & { per_minute: boolean })[]>(
    `SELECT grouping(minute) = 0 AS per_minute, (extract(epoch FROM minute) * 1000)::float8 AS minute_ms,
         server_id::text, tool, sum(calls)::float8 AS calls, sum(errors)::float8 AS errors,
         max(duration_max_ms) AS max_ms, ARRAY[${bucketSums}] AS buckets
       FROM ${table} WHERE ${where} GROUP BY GROUPING SETS ((minute), (server_id, tool)) ORDER BY minute`,
    ...params,
  );
  const minutes = rows.filter((r) => r.per_minute);
  const tools = rows.filter((r) => !r.per_minute);
  return summarise(minutes, tools, { start, end, stepSeconds, top: q.top, window: q.window });
}

/** Sums per-minute rows into steps and totals; ranks the tools. Exported for unit tests. */
export function summarise(
  minutes: SeriesRow[],
  tools: ToolRow[],
  o: { start: number; end: number; stepSeconds: number; top: number; window: string },
) {
  const stepMs = o.stepSeconds * 1000;
  type Acc = { calls: number; errors: number; max: number; buckets: number[] };
  const empty = (): Acc => ({ calls: 0, errors: 0, max: 0, buckets: new Array<number>(LATENCY_BUCKETS).fill(0) });
  const add = (acc: Acc, row: SeriesRow) => {
    acc.calls += Number(row.calls);
    acc.errors += Number(row.errors);
    acc.max = Math.max(acc.max, Number(row.max_ms));
    row.buckets.forEach((n, k) => (acc.buckets[k]! += Number(n)));
  };
  const steps = Array.from({ length: Math.round((o.end - o.start) / stepMs) }, empty);
  const total = empty();
  for (const row of minutes) {
    const i = Math.floor((Number(row.minute_ms) - o.start) / stepMs);
    if (i < 0 || i >= steps.length) continue;
    add(steps[i]!, row);
    add(total, row);
  }
  const toolFigures = tools.map((t) => ({
    server_id: t.server_id,
    tool: t.tool,
    calls: Number(t.calls),
    errors: Number(t.errors),
    error_rate: Number(t.calls) === 0 ? 0 : Number(t.errors) / Number(t.calls),
  }));
  const byName = (a: { server_id: string; tool: string }, b: { server_id: string; tool: string }) =>
    a.server_id.localeCompare(b.server_id) || a.tool.localeCompare(b.tool);
  return {
    window: o.window,
    from: new Date(o.start).toISOString(),
    to: new Date(o.end).toISOString(),
    step_seconds: o.stepSeconds,
    totals: figures(total.calls, total.errors, total.buckets, total.max),
    series: steps.map((s, i) => ({
      start: new Date(o.start + i * stepMs).toISOString(),
      ...figures(s.calls, s.errors, s.buckets, s.max),
    })),
    busiest_tools: [...toolFigures].sort((a, b) => b.calls - a.calls || byName(a, b)).slice(0, o.top),
    most_errors: toolFigures
      .filter((t) => t.errors > 0)
      .sort((a, b) => b.errors - a.errors || byName(a, b))
      .slice(0, o.top),
  };
}
