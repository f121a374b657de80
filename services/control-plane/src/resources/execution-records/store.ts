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
  const col = <T>(f: (r: ExecutionRecord) => T) => records.map(f);
  // While tracing is on, each traced record's storage is a span of its call's trace (child of the span that made it).
  const spans = tracingEnabled() ? records.map(storeSpan) : undefined;
  // One statement: the records, and the rollups' increments from the rows it inserted (none for a record
  // already stored), commit or fail together (stats/rollup.ts, usage/rollup.ts; cost units are the 16th parameter).
  // The 17th: the invocation of the `run_code` program that made a call (code mode).
  const insert = pool.query(
    `WITH inserted AS (
       INSERT INTO execution_records (id, workspace_id, server_id, catalog_version, tool, key_id, username,
         started_at, duration_ms, outcome, error_code, message, steps, debug, debug_session_id, parent_invocation_id)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[], $7::text[],
         $8::timestamp(3)[], $9::float8[], $10::text[], $11::text[], $12::text[], $13::jsonb[], $14::jsonb[], $15::uuid[],
         $17::uuid[])
       ON CONFLICT (id) DO NOTHING
       RETURNING id, workspace_id, server_id, tool, key_id, username, started_at, duration_ms, outcome
     )${usageUpsertSql}${rollupUpsertSql}`,
    [
      col((r) => r.invocationId),
      col((r) => r.workspaceId),
      col((r) => r.serverId),
      col((r) => r.catalogVersion),
      col((r) => r.tool),
      col((r) => r.caller.keyId ?? null),
      col((r) => r.caller.username ?? null),
      col((r) => r.startedAt),
      col((r) => r.durationMs),
      col((r) => r.outcome),
      col((r) => r.errorCode ?? null),
      col((r) => r.message ?? null),
      col((r) =>
        JSON.stringify(
          r.traceId ||
            r.tree ||
            r.guardrails ||
            r.shape ||
            r.cached ||
            r.caller.subject !== undefined ||
            r.caller.actingVia
            ? {
                ...(r.traceId ? { traceId: r.traceId, spanId: r.spanId } : {}),
                steps: r.steps,
                ...(r.cached ? { cached: true } : {}),
                ...(r.tree ? { tree: r.tree } : {}),
                ...(r.guardrails ? { guardrails: r.guardrails } : {}),
                ...(r.shape ? { shape: r.shape } : {}),
                ...(r.caller.subject !== undefined || r.caller.actingVia
                  ? { caller: { subject: r.caller.subject ?? null, actingVia: r.caller.actingVia ?? null } }
                  : {}),
              }
            : r.steps,
        ),
      ),
      col((r) => (r.debug ? JSON.stringify(r.debug) : null)),
      col((r) => r.debug?.sessionId ?? null),
      col((r) => r.costUnits ?? null),
      col((r) => r.parentInvocationId ?? null),
    ],
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
