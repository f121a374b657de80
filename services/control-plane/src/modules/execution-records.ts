import type { ExecutionRecord } from '@toolplane/contracts';
import { NotFoundError } from '@toolplane/errors';
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
import { type Router } from 'express';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { QueryDate } from '../http/query-date.ts';
import { isUuid } from './ids.ts';
import { rollupUpsertSql } from './stats.ts';
import { apiRouter } from '../http/route-access.ts';

/**
 * Stores a batch idempotently (the invocation id is the key: a redelivered batch inserts nothing
 * twice, and adds nothing to the traffic rollup) with one multi-row statement on node-postgres: this is the control plane's hottest write
 * path (one row per tool call), and going through the ORM cost about 1 ms of CPU per row.
 */
export async function storeExecutionRecords(pool: pg.Pool, records: ExecutionRecord[]): Promise<void> {
  if (records.length === 0) return;
  const col = <T>(f: (r: ExecutionRecord) => T) => records.map(f);
  // While tracing is on, each traced record's storage is a span of its call's trace (child of the span that made it).
  const spans = tracingEnabled() ? records.map(storeSpan) : undefined;
  // One statement: the records, and the rollup's increments from the rows it inserted (none for a record
  // already stored), commit or fail together (stats.ts).
  const insert = pool.query(
    `WITH inserted AS (
       INSERT INTO execution_records (id, workspace_id, server_id, catalog_version, tool, key_id, username,
         started_at, duration_ms, outcome, error_code, message, steps, debug, debug_session_id)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[], $7::text[],
         $8::timestamp(3)[], $9::float8[], $10::text[], $11::text[], $12::text[], $13::jsonb[], $14::jsonb[], $15::uuid[])
       ON CONFLICT (id) DO NOTHING
       RETURNING workspace_id, server_id, tool, started_at, duration_ms, outcome
     )${rollupUpsertSql}`,
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
          r.traceId || r.tree || r.caller.subject !== undefined || r.caller.actingVia
            ? {
                ...(r.traceId ? { traceId: r.traceId, spanId: r.spanId } : {}),
                steps: r.steps,
                ...(r.tree ? { tree: r.tree } : {}),
                ...(r.caller.subject !== undefined || r.caller.actingVia
                  ? { caller: { subject: r.caller.subject ?? null, actingVia: r.caller.actingVia ?? null } }
                  : {}),
              }
            : r.steps,
        ),
      ),
      col((r) => (r.debug ? JSON.stringify(r.debug) : null)),
      col((r) => r.debug?.sessionId ?? null),
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

/** Pub/sub: the number of a server's execution records just stored (debug-session event streams listen). */
export const recordsStoredChannel = (prefix: string, serverId: string) => `${prefix}:events:records-stored:${serverId}`;

/**
 * Announces stored records, one message per server of the batch, so that every control-plane replica's
 * debug-session event streams (debug-events.ts) read them from PostgreSQL. Called after
 * `storeExecutionRecords` resolved (the rows are committed); a failure fails the batch, which is then
 * stored (idempotently) and announced again.
 */
export async function announceStoredRecords(redis: Redis, prefix: string, records: ExecutionRecord[]): Promise<void> {
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
 * The `steps` column holds the step list, or `{ traceId?, spanId?, steps, tree? }` for traced calls
 * and workflow calls (their step tree), and `caller: { subject, actingVia }` (OAuth subject, why a caller
 * could act as a user): none has a column of its own (no schema change needed).
 */
function unpackSteps(value: unknown): {
  steps: unknown;
  traceId: string | null;
  tree: unknown;
  caller: { subject: string | null; actingVia: string | null };
} {
  const none = { subject: null, actingVia: null };
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as { steps?: unknown; traceId?: unknown; tree?: unknown; caller?: typeof none };
    return {
      steps: v.steps ?? [],
      traceId: typeof v.traceId === 'string' ? v.traceId : null,
      tree: v.tree ?? null,
      caller: v.caller ?? none,
    };
  }
  return { steps: value, traceId: null, tree: null, caller: none };
}

export const ListQuery = z.object({
  server_id: z.string().uuid().optional(),
  tool: z.string().min(1).optional(),
  /** The caller: an API key's id, an OAuth subject, or the external user the call ran for. */
  key_id: z.string().min(1).optional(),
  subject: z.string().min(1).optional(),
  username: z.string().min(1).optional(),
  outcome: z.enum(['success', 'tool_error', 'rejected', 'failed', 'unknown']).optional(),
  from: QueryDate.optional(),
  to: QueryDate.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** The last id of the previous page. */
  cursor: z.string().uuid().optional(),
});

export type RecordRow = {
  id: string;
  serverId: string;
  catalogVersion: number;
  tool: string;
  keyId: string | null;
  username: string | null;
  startedAt: Date;
  durationMs: number;
  outcome: string;
  errorCode: string | null;
  message: string | null;
  steps: unknown;
  debug: unknown;
  /** The API key's name (looked up; null for a deleted key or a token caller). */
  keyName?: string | null;
};

/**
 * The names of the keys that made these records (one query per page). Key ids are uuids; anything else
 * (a record of a token caller has none) names no key.
 */
async function keyNames(db: Db, workspaceId: string, rows: RecordRow[]): Promise<RecordRow[]> {
  const ids = [...new Set(rows.map((r) => r.keyId ?? undefined).filter((id): id is string => isUuid(id)))];
  if (ids.length === 0) return rows;
  const keys = await db.apiKey.findMany({ where: { workspaceId, id: { in: ids } }, select: { id: true, name: true } });
  const names = new Map(keys.map((k) => [k.id, k.name]));
  return rows.map((r) => ({ ...r, keyName: (r.keyId && names.get(r.keyId)) ?? null }));
}

/** A record as the API shows it (with `steps`, `tree` and `debug` for `GET /execution_records/{id}`). */
export function presentRecord(r: RecordRow, withSteps: boolean) {
  const { steps, traceId, tree, caller: identity } = unpackSteps(r.steps);
  return {
    id: r.id,
    server_id: r.serverId,
    catalog_version: r.catalogVersion,
    tool: r.tool,
    caller: {
      key_id: r.keyId,
      key_name: r.keyName ?? null,
      subject: identity.subject,
      username: r.username,
      acting_via: identity.actingVia,
    },
    started_at: r.startedAt,
    duration_ms: r.durationMs,
    outcome: r.outcome,
    error_code: r.errorCode,
    message: r.message,
    /** OpenTelemetry trace id (null when tracing was off): search it in Jaeger. */
    trace_id: traceId,
    // tree: workflow calls' flow.run → step.run → action.run tree (null for other tools).
    ...(withSteps ? { steps, tree, debug: r.debug ?? null } : {}),
  };
}

export function executionRecordsRouter(db: Db): Router {
  const r = apiRouter();
  // Newest first; filter by server, tool, outcome and time range; cursor pagination.
  r.get('/', async (req, res) => {
    const q = ListQuery.parse(req.query);
    const where = {
      workspaceId: caller(req).workspaceId,
      ...(q.server_id ? { serverId: q.server_id } : {}),
      ...(q.tool ? { tool: q.tool } : {}),
      ...(q.key_id ? { keyId: q.key_id } : {}),
      ...(q.username ? { username: q.username } : {}),
      // The OAuth subject lives in the steps column (unpackSteps).
      ...(q.subject ? { steps: { path: ['caller', 'subject'], equals: q.subject } } : {}),
      ...(q.outcome ? { outcome: q.outcome } : {}),
      ...(q.from || q.to ? { startedAt: { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lt: q.to } : {}) } } : {}),
    };
    const rows = (await db.executionRecord.findMany({
      where,
      orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
      take: q.limit + 1,
      ...(q.cursor ? { cursor: { id: q.cursor }, skip: 1 } : {}),
    })) as RecordRow[];
    const page = await keyNames(db, where.workspaceId, rows.slice(0, q.limit));
    res.json({
      data: page.map((row) => presentRecord(row, false)),
      next_cursor: rows.length > q.limit ? page.at(-1)!.id : null,
    });
  });
  r.get('/:id', async (req, res) => {
    const { workspaceId, serverIds } = caller(req);
    const row = isUuid(req.params.id)
      ? ((await db.executionRecord.findFirst({ where: { id: req.params.id, workspaceId } })) as RecordRow | null)
      : null;
    // A key limited to servers sees its servers' records only (`x-server-limited-keys: filtered`).
    if (!row || (serverIds && !serverIds.includes(row.serverId)))
      throw new NotFoundError('execution record', req.params.id);
    res.json(presentRecord((await keyNames(db, caller(req).workspaceId, [row]))[0]!, true));
  });
  return r;
}

/**
 * Retention: records older than `recordsDays` are deleted; debug captures (bodies) older than
 * `debugHours` are dropped from the records that kept them; ended debug sessions older than
 * `recordsDays` are deleted, and so are the rollup's minutes (stats.ts). `now` is injectable for tests.
 */
export async function applyRetention(
  pool: pg.Pool,
  opts: { now: Date; recordsDays: number; debugHours: number },
): Promise<{ records: number; captures: number; sessions: number; statsMinutes: number }> {
  const recordsBefore = new Date(opts.now.getTime() - opts.recordsDays * 86_400_000).toISOString();
  const debugBefore = new Date(opts.now.getTime() - opts.debugHours * 3_600_000).toISOString();
  const records = await pool.query('DELETE FROM execution_records WHERE started_at < $1::timestamp(3)', [
    recordsBefore,
  ]);
  const captures = await pool.query(
    'UPDATE execution_records SET debug = NULL WHERE debug IS NOT NULL AND started_at < $1::timestamp(3)',
    [debugBefore],
  );
  const sessions = await pool.query('DELETE FROM debug_sessions WHERE ends_at < $1::timestamp(3)', [recordsBefore]);
  // The traffic rollup is kept as long as the records it sums.
  const minutes = await pool.query('DELETE FROM execution_stats_minutes WHERE minute < $1::timestamp(3)', [
    recordsBefore,
  ]);
  await pool.query('DELETE FROM execution_stats_ten_minutes WHERE minute < $1::timestamp(3)', [recordsBefore]);
  return {
    records: records.rowCount ?? 0,
    captures: captures.rowCount ?? 0,
    sessions: sessions.rowCount ?? 0,
    statsMinutes: minutes.rowCount ?? 0,
  };
}
