/**
 * The traffic rollup (table `execution_stats_minutes`, and `execution_stats_ten_minutes`, the same per
 * 10 minutes, for the day's figures): one row per server, tool and minute of the
 * records' own `started_at`, with the calls sent (every outcome but `rejected`), the errors among them (every
 * outcome but `success`), the calls refused before anything was sent (`rejected`: held for an approval, over a quota,
 * unconfirmed, refused by a rule; counted apart and in no latency figure), the sum and the maximum of the
 * sent calls' durations, and a fixed latency histogram of them. It is written by the same statement that
 * stores the records (execution-records/store.ts), from the rows that statement inserted: a batch delivered
 * again inserts no record and adds nothing. `GET /stats` sums rows in one statement (traffic.ts); it never scans
 * the records.
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

/** The histogram's bucket indexes, 0 to LATENCY_BUCKETS - 1. */
export const bucketIndexes = Array.from({ length: LATENCY_BUCKETS }, (_, k) => k);

/** The rollup's tables: per minute (the hour's figures), and per 10 minutes (the day's: 144 rows per tool). */
export const rollupTables = { minute: 'execution_stats_minutes', tenMinutes: 'execution_stats_ten_minutes' } as const;

/** One rollup table's upsert from the `bucketed` CTE; `period` is the start of the row's period. */
function upsert(table: string, period: string): string {
  return `INSERT INTO ${table} (workspace_id, server_id, tool, minute, calls, errors, refused, duration_sum_ms,
    duration_max_ms, latency_buckets)
  SELECT workspace_id, server_id, tool, ${period} AS period, (count(*) FILTER (WHERE NOT refused))::int,
    (count(*) FILTER (WHERE NOT refused AND outcome <> 'success'))::int, (count(*) FILTER (WHERE refused))::int,
    coalesce(sum(duration_ms) FILTER (WHERE NOT refused), 0), coalesce(max(duration_ms) FILTER (WHERE NOT refused), 0),
    ARRAY[${bucketIndexes.map((k) => `(count(*) FILTER (WHERE k = ${k} AND NOT refused))::int`).join(', ')}]
  FROM bucketed
  GROUP BY workspace_id, server_id, tool, period
  ORDER BY server_id, tool, period
  ON CONFLICT (server_id, tool, minute) DO UPDATE SET
    calls = ${table}.calls + EXCLUDED.calls,
    errors = ${table}.errors + EXCLUDED.errors,
    refused = ${table}.refused + EXCLUDED.refused,
    duration_sum_ms = ${table}.duration_sum_ms + EXCLUDED.duration_sum_ms,
    duration_max_ms = greatest(${table}.duration_max_ms, EXCLUDED.duration_max_ms),
    latency_buckets = ARRAY[${bucketIndexes.map((k) => `${table}.latency_buckets[${k + 1}] + EXCLUDED.latency_buckets[${k + 1}]`).join(', ')}]`;
}

/**
 * The statement's CTEs that turn the inserted records (a CTE named `inserted` with workspace_id,
 * server_id, tool, started_at, duration_ms, outcome) into increments of both rollup tables. Rows are
 * upserted in key order so that two replicas storing batches at once take the row locks in the same order.
 */
export const rollupUpsertSql = `,
  bucketed AS (
    SELECT workspace_id, server_id, tool, started_at, outcome, duration_ms, outcome = 'rejected' AS refused,
      width_bucket(duration_ms, ARRAY[${LATENCY_BOUNDS_MS.join(', ')}]::float8[]) AS k
    FROM inserted
    WHERE NOT twin
  ),
  per_minute AS (${upsert(rollupTables.minute, "date_trunc('minute', started_at)")} RETURNING 1),
  per_ten_minutes AS (${upsert(rollupTables.tenMinutes, "date_bin('10 minutes', started_at, TIMESTAMP '2000-01-01')")} RETURNING 1)`;
