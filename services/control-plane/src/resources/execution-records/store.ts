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

/**
 * Stores a batch idempotently (the invocation id is the key: a redelivered batch inserts nothing
 * twice, and adds nothing to the traffic and usage rollups) with one multi-row statement on node-postgres: this is the control plane's hottest write
 * path (one row per tool call), and going through the ORM cost about 1 ms of CPU per row.
 */
export async function storeExecutionRecords(pool: pg.Pool, records: ExecutionRecord[]): Promise<void> {
  if (records.length === 0) return;
  // While tracing is on, each traced record's storage is a span of its call's trace (child of the span that made it).
  const spans = tracingEnabled() ? records.map(storeSpan) : undefined;
  // One statement: the records (one jsonb parameter, read as rows by `jsonb_to_recordset`: one native
  // `JSON.stringify` of the batch instead of 17 arrays node-postgres escapes element by element), and the rollups'
  // increments from the rows it inserted (none for a record already stored), commit or fail together
  // (stats/rollup.ts, usage/rollup.ts read the rows `src` and `inserted`).
  const insert = pool.query(
    `WITH src AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, workspace_id uuid, server_id uuid, catalog_version int,
         tool text, key_id text, username text, started_at timestamp(3), duration_ms float8, outcome text, error_code text,
         message text, steps jsonb, debug jsonb, debug_session_id uuid, cost_units float8, parent_invocation_id uuid,
         sealed_arguments text)
     ),
     inserted AS (
       INSERT INTO execution_records (id, workspace_id, server_id, catalog_version, tool, key_id, username,
         started_at, duration_ms, outcome, error_code, message, steps, debug, debug_session_id, parent_invocation_id,
         sealed_arguments)
       SELECT id, workspace_id, server_id, catalog_version, tool, key_id, username, started_at, duration_ms, outcome,
         error_code, message, steps, debug, debug_session_id, parent_invocation_id, sealed_arguments FROM src
       ON CONFLICT (id) DO NOTHING
       RETURNING id, workspace_id, server_id, tool, key_id, username, started_at, duration_ms, outcome
     )${usageUpsertSql}${rollupUpsertSql}`,
    [JSON.stringify(records.map(recordRow))],
  );
  try {
    await insert;
  } catch (err) {
    for (const s of spans ?? []) endSpan(s, err);
    throw err;
  }
  for (const s of spans ?? []) endSpan(s);
  recordExecutionRecordsStored(records.length);
}

/**
 * Announces stored records, one message per server of the batch, so that every control-plane replica's
 * debug-session event streams (publication/debug-events.ts) read them from PostgreSQL. Called after
 * `storeExecutionRecords` resolved (the rows are committed); a failure fails the batch, which is then
 * stored (idempotently) and announced again.
 */
export async function announceStoredRecords(
  redis: RedisClient,
  prefix: string,
  records: ExecutionRecord[],
): Promise<void> {
  const counts = new Map<string, number>();
  for (const r of records) counts.set(r.serverId, (counts.get(r.serverId) ?? 0) + 1);
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
          },
        }
      : {}),
  };
}

/** ES2024's `String.prototype.toWellFormed` (Node 20 and later; the TypeScript library here predates it). */
const wellFormed = (v: string): string => (v as string & { toWellFormed(): string }).toWellFormed();
