import { NotFoundError } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { presentRecord, type RecordRow } from './present.ts';
import type { ListQuery } from './schemas.ts';

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

/**
 * Records with a guardrail finding of `action` (`would_*`: any of a log-only guardrail). The partial index of the
 * records that hold a finding serves it (ADR 0102): its condition implies the index's, so PostgreSQL reads those only.
 */
function guardrailFilter(action: NonNullable<ListQuery['guardrail_action']>) {
  const actions = action === 'would_*' ? ['would_redact', 'would_block', 'would_flag'] : [action];
  return {
    OR: actions.map((a) => ({ steps: { path: ['guardrails'], array_contains: [{ action: a }] } })),
  };
}

/**
 * `GET /execution_records`: newest first; filter by server, tool, caller, outcome, guardrail finding, the `run_code`
 * program that made the call, and time range; cursor pagination.
 */
export async function listExecutionRecords(
  { db }: ControlPlaneDeps,
  { query: q, caller }: Input<undefined, ListQuery>,
) {
  const where = {
    workspaceId: caller.workspaceId,
    // Production's records unless the staging twin's are asked for (ADR 0112).
    twin: q.twin === 'true',
    ...(q.server_id ? { serverId: q.server_id } : {}),
    ...(q.tool ? { tool: q.tool } : {}),
    ...(q.parent_invocation_id ? { parentInvocationId: q.parent_invocation_id } : {}),
    ...(q.key_id ? { keyId: q.key_id } : {}),
    ...(q.username ? { username: q.username } : {}),
    // The OAuth subject and the guardrails' findings live in the steps column (present.ts, unpackSteps).
    AND: [
      ...(q.subject ? [{ steps: { path: ['caller', 'subject'], equals: q.subject } }] : []),
      ...(q.guardrail_action ? [guardrailFilter(q.guardrail_action)] : []),
    ],
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
  return {
    data: page.map((row) => presentRecord(row, false)),
    next_cursor: rows.length > q.limit ? page.at(-1)!.id : null,
  };
}

/** `GET /execution_records/{id}`: one record with its steps. */
export async function getExecutionRecord(
  { db }: ControlPlaneDeps,
  { params, caller: { workspaceId, serverIds } }: Input,
) {
  const id = params.id!;
  const row = isUuid(id)
    ? ((await db.executionRecord.findFirst({ where: { id, workspaceId } })) as RecordRow | null)
    : null;
  // A key limited to servers sees its servers' records only (`x-server-limited-keys: filtered`).
  if (!row || (serverIds && !serverIds.includes(row.serverId))) throw new NotFoundError('execution record', id);
  return presentRecord((await keyNames(db, workspaceId, [row]))[0]!, true);
}
