/**
 * The usage rollup (table `usage_days`, for chargeback): per workspace, UTC day of the records' own `started_at`,
 * server, tool, API key id (`''`: none) and person (the record's external user, `''`: none), the calls and the cost
 * units they were charged. Only records with `costUnits` count (tool calls that reached the data plane; see
 * `ExecutionRecord.costUnits`), whether or not a quota applies. It is written by the same statement that stores the
 * records (execution-records/store.ts), from the rows that statement inserted: a batch delivered again inserts no
 * record and adds nothing. `GET /usage` sums rows (report.ts); it never scans the records.
 */

/**
 * The statement's part that turns the inserted records (a CTE named `inserted` with id, workspace_id, server_id,
 * tool, key_id, username, started_at; their cost units from the batch's rows, the CTE `src`) into increments of
 * `usage_days`: a CTE, between `inserted` and the traffic rollup's CTEs. Rows are upserted in key
 * order (two replicas storing at once lock them in the same order).
 */
export const usageUpsertSql = `,
  costed AS (
    SELECT i.workspace_id, i.server_id, i.tool, coalesce(i.key_id, '') AS key_id,
      coalesce(i.username, '') AS person, i.started_at::date AS day, c.cost_units
    FROM inserted i
    JOIN (SELECT DISTINCT ON (id) id, cost_units FROM src) c ON c.id = i.id
    WHERE c.cost_units IS NOT NULL AND NOT i.twin
  ),
  usage_rows AS (
    INSERT INTO usage_days (workspace_id, day, server_id, tool, key_id, person, calls, cost_units)
    SELECT workspace_id, day, server_id, tool, key_id, person, count(*)::int, sum(cost_units)
    FROM costed
    GROUP BY workspace_id, day, server_id, tool, key_id, person
    ORDER BY workspace_id, day, server_id, tool, key_id, person
    ON CONFLICT (workspace_id, day, server_id, tool, key_id, person) DO UPDATE SET
      calls = usage_days.calls + EXCLUDED.calls,
      cost_units = usage_days.cost_units + EXCLUDED.cost_units
    RETURNING 1
  )`;
