import type { ExecutionRecord } from '@toolplane/contracts';
import {
  attr,
  contextFromIds,
  endSpan,
  noopSpan,
  recordExecutionRecordsStored,
  SpanKind,
  startSpan,
  tracingEnabled,
  type Span,
} from '@toolplane/telemetry';
import type { RedisClient } from '@toolplane/redis';
import type pg from 'pg';
import { rollupUpsertSql } from '../stats/rollup.ts';
import { usageUpsertSql } from '../usage/rollup.ts';
import { recordsStoredChannel } from '../../publication/debug-events.ts';

/** The batch's rows (a CTE `src`, the columns of `jsonb_to_recordset` below) inserted, and the rollups from those. */
const insertSql = (src: string) => `WITH src AS (${src}),
     inserted AS (
       INSERT INTO execution_records (id, workspace_id, server_id, catalog_version, tool, key_id, username,
         started_at, duration_ms, outcome, error_code, message, steps, debug, debug_session_id, parent_invocation_id,
         sealed_arguments, receipt, twin)
       SELECT id, workspace_id, server_id, catalog_version, tool, key_id, username, started_at, duration_ms, outcome,
         error_code, message, steps, debug, debug_session_id, parent_invocation_id, sealed_arguments, receipt, twin FROM src
       ON CONFLICT (id) DO NOTHING
       RETURNING id, workspace_id, server_id, tool, key_id, username, started_at, duration_ms, outcome, twin
     )${usageUpsertSql}${rollupUpsertSql}
     SELECT server_id::text AS server_id, count(*)::int AS n FROM src GROUP BY server_id`;

/** The records of a batch of `recordRow`s. */
const rowsSql = insertSql(`SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, workspace_id uuid, server_id uuid,
  catalog_version int, tool text, key_id text, username text, started_at timestamp(3), duration_ms float8, outcome text,
  error_code text, message text, steps jsonb, debug jsonb, debug_session_id uuid, cost_units float8,
  parent_invocation_id uuid, sealed_arguments text, receipt jsonb, twin boolean)`);

/** `{ key: value }` when `when` holds, else `{}`. */
const member = (when: string, key: string, value: string) =>
  `CASE WHEN ${when} THEN jsonb_build_object('${key}', ${value}) ELSE '{}'::jsonb END`;

/**
 * `stepsColumn` in SQL, from an execution record's fields as `jsonb_to_recordset` reads them (`x`, a JSON null read as
 * SQL's): the steps, or an object with them and what else the record says. The unit test stores the same records both
 * ways and compares every column.
 */
const stepsSql = (() => {
  const traced = `coalesce(x."traceId", '') <> ''`;
  const delegated = `x.caller->'delegation' IS NOT NULL AND x.caller->'delegation' <> 'null'::jsonb`;
  const caller = `(x.caller ? 'subject' OR coalesce(x.caller->>'actingVia', '') <> '' OR (${delegated}))`;
  const objects = ['tree', 'guardrails', 'shape', 'labels'];
  const more = [traced, 'coalesce(x.cached, false)', ...objects.map((k) => `x.${k} IS NOT NULL`), caller].join(' OR ');
  const object = [
    member(traced, 'traceId', 'x."traceId"'),
    member(`${traced} AND x."spanId" IS NOT NULL`, 'spanId', 'x."spanId"'),
    "jsonb_build_object('steps', x.steps)",
    member('coalesce(x.cached, false)', 'cached', 'true'),
    ...objects.map((k) => member(`x.${k} IS NOT NULL`, k, `x.${k}`)),
    member(
      caller,
      'caller',
      `jsonb_build_object('subject', coalesce(x.caller->'subject', 'null'::jsonb), 'actingVia',
        coalesce(x.caller->'actingVia', 'null'::jsonb)) || ${member(delegated, 'delegation', "x.caller->'delegation'")}
        || ${member("coalesce(x.caller->>'client', '') <> ''", 'client', "x.caller->'client'")}`,
    ),
  ].join(' || ');
  return `CASE WHEN ${more} THEN ${object} ELSE x.steps END`;
})();

/** The records of the workers' stream entries as they are (each a JSON array of execution records, version 1). */
const rawSql = insertSql(`SELECT CASE WHEN x.v = 1 THEN x."invocationId" END AS id, x."workspaceId" AS workspace_id,
    x."serverId" AS server_id, x."catalogVersion" AS catalog_version, x.tool, x.caller->>'keyId' AS key_id,
    x.caller->>'username' AS username, x."startedAt" AS started_at, x."durationMs" AS duration_ms, x.outcome, x."errorCode" AS error_code, x.message,
    ${stepsSql} AS steps, x.debug, (x.debug->>'sessionId')::uuid AS debug_session_id, x."costUnits" AS cost_units,
    x."parentInvocationId" AS parent_invocation_id, x."sealedArguments" AS sealed_arguments, x.receipt,
    coalesce((x.caller->>'twin')::boolean, false) AS twin
  FROM jsonb_to_recordset($1::jsonb) AS x(v int, "invocationId" uuid, "parentInvocationId" uuid, "workspaceId" uuid,
    "serverId" uuid, "catalogVersion" int, tool text, caller jsonb, "startedAt" timestamp(3), "durationMs" float8,
    outcome text, "errorCode" text, message text, steps jsonb, tree jsonb, "traceId" text, "spanId" text,
    "costUnits" float8, guardrails jsonb, labels jsonb, shape jsonb, cached boolean, "sealedArguments" text, debug jsonb,
    receipt jsonb)`);

/** The records stored, by server id (duplicates of stored ones included), as the statements above answer them. */
async function stored(query: Promise<pg.QueryResult<{ server_id: string; n: number }>>): Promise<Map<string, number>> {
  const counts = new Map((await query).rows.map((r) => [r.server_id, r.n]));
  recordExecutionRecordsStored([...counts.values()].reduce((a, b) => a + b, 0));
  return counts;
}

/**
 * Stores a batch idempotently (the invocation id is the key: a redelivered batch inserts nothing
 * twice, and adds nothing to the traffic and usage rollups) with one multi-row statement on node-postgres: this is the control plane's hottest write
 * path (one row per tool call), and going through the ORM cost about 1 ms of CPU per row. Answers the records by
 * server id, for `announceStoredRecords`.
 */
export async function storeExecutionRecords(pool: pg.Pool, records: ExecutionRecord[]): Promise<Map<string, number>> {
  if (records.length === 0) return new Map();
  // While tracing is on, each traced record's storage is a span of its call's trace (child of the span that made it).
  const spans = tracingEnabled() ? records.map(storeSpan) : undefined;
  // One statement: the records (one jsonb parameter, read as rows by `jsonb_to_recordset`: one native
  // `JSON.stringify` of the batch instead of 17 arrays node-postgres escapes element by element), and the rollups'
  // increments from the rows it inserted (none for a record already stored), commit or fail together
  // (stats/rollup.ts, usage/rollup.ts read the rows `src` and `inserted`).
  try {
    const values = [JSON.stringify(records.map(recordRow))];
    const counts = await stored(pool.query({ name: 'store-execution-records', text: rowsSql, values }));
    for (const s of spans ?? []) endSpan(s);
    return counts;
  } catch (err) {
    for (const s of spans ?? []) endSpan(s, err);
    throw err;
  }
}

/**
 * Stores the workers' stream entries as they came (each the JSON text of an array of execution records), read by
 * PostgreSQL: the control plane neither parses, checks nor writes again each record (that, and the garbage of it, was
 * most of its CPU per call; docs/benchmarks.md). What only the JavaScript path does is left to it: a record PostgreSQL
 * refuses (a value of the wrong type, a lone surrogate in a text; SQLSTATE class 22 or 23) fails the statement, and
 * the stream then stores the entries' records parsed and checked, one by one if need be. A record of another version
 * than 1 has no id here (class 23), and the parsed path leaves it out, as the check does: a filter instead would make
 * PostgreSQL expect a handful of rows, and join the usage's rows by a nested loop (2 ms a batch of 125).
 */
export async function storeRawExecutionRecords(
  pool: pg.Pool,
  entries: readonly string[],
): Promise<Map<string, number>> {
  const arrays = entries.map((e) => e.trim().slice(1, -1).trim()).filter((e) => e.length > 0);
  if (arrays.length === 0) return new Map();
  const values = [`[${arrays.join(',')}]`];
  return stored(pool.query({ name: 'store-raw-execution-records', text: rawSql, values }));
}

/**
 * Announces stored records, one message per server of the batch (`counts`: records by server id), so that every
 * control-plane replica's debug-session event streams (publication/debug-events.ts) read them from PostgreSQL. Called
 * after the store resolved (the rows are committed); a failure fails the batch, which is then stored (idempotently)
 * and announced again.
 */
export async function announceStoredRecords(
  redis: RedisClient,
  prefix: string,
  counts: ReadonlyMap<string, number>,
): Promise<void> {
  await Promise.all(
    [...counts].map(([serverId, n]) => redis.publish(recordsStoredChannel(prefix, serverId), String(n))),
  );
}

function storeSpan(r: ExecutionRecord): Span {
  if (!r.traceId || !r.spanId) return noopSpan;
  return startSpan(
    'process execution-records',
    {
      [attr.messagingSystem]: 'redis',
      [attr.messagingOperationName]: 'process',
      [attr.messagingOperationType]: 'process',
      [attr.messagingDestinationName]: 'execution-records',
      [attr.invocationId]: r.invocationId,
      [attr.outcome]: r.outcome,
    },
    { kind: SpanKind.CONSUMER, parent: contextFromIds(r.traceId, r.spanId) },
  );
}

/**
 * A record as one row of `jsonb_to_recordset`. Its text fields are made well-formed first: node-postgres sent a lone
 * surrogate in a text parameter as U+FFFD, while jsonb refuses its `\ud800` escape (a whole batch would fail).
 */
function recordRow(r: ExecutionRecord) {
  const wf = (v: string | undefined) => (v === undefined ? null : wellFormed(v));
  return {
    id: r.invocationId,
    workspace_id: r.workspaceId,
    server_id: r.serverId,
    catalog_version: r.catalogVersion,
    tool: wellFormed(r.tool),
    key_id: wf(r.caller.keyId),
    username: wf(r.caller.username),
    started_at: r.startedAt,
    duration_ms: r.durationMs,
    outcome: r.outcome,
    error_code: wf(r.errorCode),
    message: wf(r.message),
    steps: stepsColumn(r),
    debug: r.debug ?? null,
    debug_session_id: r.debug?.sessionId ?? null,
    cost_units: r.costUnits ?? null,
    parent_invocation_id: r.parentInvocationId ?? null,
    sealed_arguments: r.sealedArguments ?? null,
    receipt: r.receipt ?? null,
    twin: r.caller.twin === true,
  };
}

/** The `steps` column: the steps, or an object with them and what else the record says (trace, cache, tree, …). */
function stepsColumn(r: ExecutionRecord): unknown {
  const more =
    r.traceId ||
    r.tree ||
    r.guardrails ||
    r.shape ||
    r.cached ||
    r.labels ||
    r.caller.subject !== undefined ||
    r.caller.actingVia ||
    r.caller.delegation;
  if (!more) return r.steps;
  return {
    ...(r.traceId ? { traceId: r.traceId, spanId: r.spanId } : {}),
    steps: r.steps,
    ...(r.cached ? { cached: true } : {}),
    ...(r.tree ? { tree: r.tree } : {}),
    ...(r.guardrails ? { guardrails: r.guardrails } : {}),
    ...(r.shape ? { shape: r.shape } : {}),
    ...(r.labels ? { labels: r.labels } : {}),
    ...(r.caller.subject !== undefined || r.caller.actingVia || r.caller.delegation
      ? {
          caller: {
            subject: r.caller.subject ?? null,
            actingVia: r.caller.actingVia ?? null,
            ...(r.caller.delegation ? { delegation: r.caller.delegation } : {}),
            ...(r.caller.client ? { client: r.caller.client } : {}),
          },
        }
      : {}),
  };
}

/** ES2024's `String.prototype.toWellFormed` (Node 20 and later; the TypeScript library here predates it). */
const wellFormed = (v: string): string => (v as string & { toWellFormed(): string }).toWellFormed();
