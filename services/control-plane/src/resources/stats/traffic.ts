import type { Db } from '../../db/client.ts';
import { QUERY_DATE_MAX_MS, QUERY_DATE_MIN_MS } from '../../http/query-date.ts';
import { bucketIndexes, LATENCY_BOUNDS_MS, LATENCY_BUCKETS, rollupTables } from './rollup.ts';
import type { StatsQuery } from './schemas.ts';

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

/**
 * Figures of a set of rollup rows: calls sent, errors among them, error rate (errors / calls, 0 without calls),
 * calls refused before anything was sent (apart: neither errors nor latencies), p50, p95 of the sent.
 */
function figures(t: { calls: number; errors: number; refused: number }, buckets: readonly number[], maxMs: number) {
  const { calls, errors, refused } = t;
  return {
    calls,
    errors,
    error_rate: calls === 0 ? 0 : errors / calls,
    refused,
    p50_ms: quantileFromBuckets(buckets, 0.5, maxMs),
    p95_ms: quantileFromBuckets(buckets, 0.95, maxMs),
  };
}

/** Each window reads the table whose period is its step; its end is rounded up to a whole step. */
const windows = {
  '1h': { ms: 3_600_000, stepSeconds: 60, table: rollupTables.minute },
  '24h': { ms: 86_400_000, stepSeconds: 600, table: rollupTables.tenMinutes },
};

type SeriesRow = {
  minute_ms: number;
  calls: number;
  errors: number;
  refused: number;
  max_ms: number;
  buckets: number[];
};
type ToolRow = { server_id: string; tool: string; calls: number; errors: number; refused: number };

const bucketSums = bucketIndexes.map((k) => `sum(latency_buckets[${k + 1}])::float8`).join(', ');

/**
 * The figures of `GET /stats` for a workspace: one aggregate statement over the rollup, grouped both per
 * minute (the series and totals) and per server and tool (the top lists), so that every figure of a response
 * comes from one snapshot. Two statements would each see the batches committed by their own start: a read
 * during a store could show tools that do not add up to the totals.
 */
export async function trafficStats(db: Db, workspaceId: string, q: StatsQuery) {
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
         server_id::text, tool, sum(calls)::float8 AS calls, sum(errors)::float8 AS errors, sum(refused)::float8 AS refused,
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
  type Acc = { calls: number; errors: number; refused: number; max: number; buckets: number[] };
  const empty = (): Acc => ({
    calls: 0,
    errors: 0,
    refused: 0,
    max: 0,
    buckets: new Array<number>(LATENCY_BUCKETS).fill(0),
  });
  const add = (acc: Acc, row: SeriesRow) => {
    acc.calls += Number(row.calls);
    acc.errors += Number(row.errors);
    acc.refused += Number(row.refused ?? 0);
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
    refused: Number(t.refused ?? 0),
  }));
  const byName = (a: { server_id: string; tool: string }, b: { server_id: string; tool: string }) =>
    a.server_id.localeCompare(b.server_id) || a.tool.localeCompare(b.tool);
  return {
    window: o.window,
    from: new Date(o.start).toISOString(),
    to: new Date(o.end).toISOString(),
    step_seconds: o.stepSeconds,
    totals: figures(total, total.buckets, total.max),
    series: steps.map((s, i) => ({
      start: new Date(o.start + i * stepMs).toISOString(),
      ...figures(s, s.buckets, s.max),
    })),
    busiest_tools: [...toolFigures].sort((a, b) => b.calls - a.calls || byName(a, b)).slice(0, o.top),
    most_errors: toolFigures
      .filter((t) => t.errors > 0)
      .sort((a, b) => b.errors - a.errors || byName(a, b))
      .slice(0, o.top),
  };
}
