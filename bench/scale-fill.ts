// Bulk loads of bench/scale.ts: the rows and Redis keys the real write paths produce, written many at a time (one
// multi-row INSERT per batch, one Redis pipeline per batch; the audit chain hashed in PostgreSQL).
// tests/e2e/deploy-and-scale/scale-fill.test.ts diffs each kind against one the real write path made.
import { createHash, randomUUID } from 'node:crypto';
import { auditEventCanonical } from '@toolplane/client/audit-chain';
import { redisKeys, sessionKey, type ApiKeyRecord, type AuditEvent } from '@toolplane/contracts';
import type { Redis } from 'ioredis';
import type pg from 'pg';

const batchSize = 2_000;

/** The value of the `i`-th bulk key: a runtime key a caller can use (`tp_` like `newApiKeyValue`). */
export const bulkKeyValue = (i: number) => `tp_scale_${String(i).padStart(8, '0')}_${'k'.repeat(24)}`;

/**
 * Keys `from` … `to - 1` of `workspaceId` with the runtime scope, created by the key `creatorId`: the `api_keys` rows
 * `createApiKey` writes for `POST /api_keys` and the record `setApiKey` puts in the keys' hash (same fields, same
 * order), without the per-key change message (no edge has cached a key that did not exist). Returns the keys' ids.
 */
export async function bulkApiKeys(
  pool: pg.Pool,
  redis: Redis,
  prefix: string,
  workspaceId: string,
  creatorId: string,
  from: number,
  to: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (let start = from; start < to; start += batchSize) {
    const rows = Array.from({ length: Math.min(batchSize, to - start) }, (_, j) => {
      const value = bulkKeyValue(start + j);
      return {
        id: randomUUID(),
        name: `scale-${start + j}`,
        prefix: value.slice(0, 10),
        hash: createHash('sha256').update(value).digest('hex'),
      };
    });
    await pool.query(
      `INSERT INTO api_keys (id, workspace_id, name, prefix, hash, scopes, server_ids, created_by)
       SELECT id, $1::uuid, name, prefix, hash, ARRAY['runtime'], ARRAY[]::text[], $6::jsonb
       FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) AS k(id, name, prefix, hash)`,
      [
        workspaceId,
        rows.map((r) => r.id),
        rows.map((r) => r.name),
        rows.map((r) => r.prefix),
        rows.map((r) => r.hash),
        JSON.stringify({ type: 'api_key', id: creatorId }),
      ],
    );
    const pipe = redis.pipeline();
    for (const r of rows) {
      const record: ApiKeyRecord = { keyId: r.id, name: r.name, workspaceId, scopes: ['runtime'], revoked: false };
      pipe.hset(redisKeys(prefix).apiKeys, r.hash, JSON.stringify(record));
    }
    await pipe.exec();
    ids.push(...rows.map((r) => r.id));
  }
  return ids;
}

/**
 * `count` execution records of one server's calls, copies of a stored record `template` (its key, steps, catalog
 * version, sealed arguments, debug capture) with their own ids, spread evenly over the `days` before now, a third each of three tools, one in
 * twenty a tool error: what the records store writes (the rollup's rows are not made).
 */
export async function bulkRecords(
  pool: pg.Pool,
  template: { id: string },
  count: number,
  days: number,
  tools: [string, string, string],
): Promise<void> {
  const seconds = (days * 86_400) / Math.max(1, count);
  for (let start = 0; start < count; start += 100_000) {
    await pool.query(
      `INSERT INTO execution_records (id, workspace_id, server_id, catalog_version, tool, key_id, username, started_at,
         duration_ms, outcome, error_code, message, steps, debug, debug_session_id, parent_invocation_id, sealed_arguments)
       SELECT gen_random_uuid(), t.workspace_id, t.server_id, t.catalog_version, ($2::text[])[1 + g % 3], t.key_id,
         t.username, now() - make_interval(secs => g * $3::float8), 20 + g % 50,
         CASE WHEN g % 20 = 0 THEN 'tool_error' ELSE 'success' END, NULL, NULL, t.steps, t.debug, t.debug_session_id,
         t.parent_invocation_id, t.sealed_arguments
       FROM execution_records t, generate_series($4::int, $5::int) g WHERE t.id = $1::uuid`,
      [template.id, tools, seconds, start + 1, Math.min(count, start + 100_000)],
    );
  }
}

/**
 * `from` … `to - 1` people of `workspaceId`, each named `scale-person-<i>` with `attributes`: the `external_users`
 * rows `createPerson` writes for `POST /external_users` and what it publishes for the edge (the name → id hash and the
 * attributes hash), one multi-row INSERT and one Redis pipeline per batch.
 */
export async function bulkPeople(
  pool: pg.Pool,
  redis: Redis,
  prefix: string,
  workspace: { id: string; attributes: Record<string, string> },
  from: number,
  to: number,
): Promise<void> {
  const keys = redisKeys(prefix);
  for (let start = from; start < to; start += batchSize) {
    const rows = Array.from({ length: Math.min(batchSize, to - start) }, (_, j) => ({
      id: randomUUID(),
      name: `scale-person-${start + j}`,
    }));
    await pool.query(
      `INSERT INTO external_users (id, workspace_id, name, attributes)
       SELECT id, $1::uuid, name, $4::jsonb FROM unnest($2::uuid[], $3::text[]) AS p(id, name)`,
      [workspace.id, rows.map((r) => r.id), rows.map((r) => r.name), JSON.stringify(workspace.attributes)],
    );
    const pipe = redis.pipeline();
    for (const r of rows) {
      pipe.hset(keys.userAttributes(workspace.id), r.id, JSON.stringify(workspace.attributes));
      pipe.hset(keys.users(workspace.id), r.name, r.id);
    }
    await pipe.exec();
  }
}

/**
 * Copies of one session scope's hash (`sessionKey`: its labels' origins and call counts, as the worker's
 * `addToSession` wrote them) under each of `scopes`, with the same time to live left: one Redis pipeline per batch.
 */
export async function bulkSessions(
  redis: Redis,
  prefix: string,
  workspaceId: string,
  templateScope: string,
  scopes: readonly string[],
): Promise<void> {
  const template = sessionKey(prefix, workspaceId, templateScope);
  const [fields, ttl] = await Promise.all([redis.hgetall(template), redis.pttl(template)]);
  if (Object.keys(fields).length === 0 || ttl <= 0) throw new Error(`no session at ${templateScope}`);
  for (let start = 0; start < scopes.length; start += batchSize) {
    const pipe = redis.pipeline();
    for (const scope of scopes.slice(start, start + batchSize)) {
      const key = sessionKey(prefix, workspaceId, scope);
      pipe.hset(key, fields);
      pipe.pexpire(key, ttl);
    }
    await pipe.exec();
  }
}

/** Where the fields a bulk audit event has of its own sit in a template's canonical JSON (`bulkAuditEvents`). */
const auditMarkers = { id: '@@bulk-id@@', at: '@@bulk-at@@', prevHash: '@@bulk-prev-hash@@', seq: 987_654_321_012_345 };

/** A canonical JSON text around the bulk event's own fields: the text before each field's value, in order, then after. */
function canonicalParts(template: AuditEvent): { parts: string[]; fields: string[] } {
  const text = auditEventCanonical({ ...template, ...auditMarkers });
  const found = Object.entries(auditMarkers)
    .map(([field, marker]) => ({ field, marker: String(marker), at: text.indexOf(String(marker)) }))
    .sort((a, b) => a.at - b.at);
  const parts: string[] = [];
  let from = 0;
  for (const f of found) {
    if (f.at < 0 || text.indexOf(f.marker, f.at + 1) >= 0) throw new Error(`the template's ${f.field} is not once`);
    parts.push(text.slice(from, f.at));
    from = f.at + f.marker.length;
  }
  parts.push(text.slice(from));
  return { parts, fields: found.map((f) => f.field) };
}

/**
 * Appends to the template's chain in PostgreSQL, from its last event on: for each new event its id, `seq`, `at`
 * (`stepMs` after the one before), `at_floor` (as `appendAuditEvent` sets it) and the link to the one before, the rest
 * of its columns copied from the template; the hash is SHA-256 of the event's canonical JSON as
 * `@toolplane/client/audit-chain` takes it, the template's text with these fields put in.
 */
const auditChainFill = `
CREATE OR REPLACE FUNCTION pg_temp.bulk_audit_events(template uuid, n int, step interval, parts text[], fields text[])
RETURNS void LANGUAGE plpgsql AS $fill$
DECLARE
  t audit_events%ROWTYPE;
  last_seq int; prev text; last_at timestamptz; last_floor timestamptz;
  ids uuid[] := '{}'; seqs int[] := '{}'; ats timestamptz[] := '{}'; floors timestamptz[] := '{}';
  prevs text[] := '{}'; hashes text[] := '{}';
  body text; new_id uuid; new_at timestamptz;
BEGIN
  SELECT * INTO t FROM audit_events WHERE id = template;
  -- The chain's lock, as appendAuditEvent takes it: no append comes between.
  PERFORM pg_advisory_xact_lock(hashtextextended('audit:' || t.chain, 0));
  SELECT e.seq, e.hash, e.at, e.at_floor INTO last_seq, prev, last_at, last_floor
    FROM audit_events e WHERE e.chain = t.chain ORDER BY e.seq DESC LIMIT 1;
  FOR i IN 1..n LOOP
    new_id := gen_random_uuid();
    new_at := last_at + step * i;
    last_seq := last_seq + 1;
    body := parts[1];
    FOR k IN 1..cardinality(fields) LOOP
      body := body || CASE fields[k]
        WHEN 'id' THEN new_id::text
        WHEN 'at' THEN to_char(new_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        WHEN 'seq' THEN last_seq::text
        ELSE prev END || parts[k + 1];
    END LOOP;
    last_floor := greatest(last_floor, new_at - interval '1 minute');
    ids := ids || new_id; seqs := seqs || last_seq; ats := ats || new_at; floors := floors || last_floor;
    prevs := prevs || prev;
    prev := encode(sha256(convert_to(body, 'UTF8')), 'hex');
    hashes := hashes || prev;
  END LOOP;
  INSERT INTO audit_events (id, chain, seq, workspace_id, at, at_floor, actor_type, actor_id, actor_name, action,
    resource_type, resource_id, outcome, status, request_id, client_request_id, trace_id, client_address, user_agent,
    changes, details, prev_hash, hash)
  SELECT u.id, t.chain, u.seq, t.workspace_id, u.at, u.floor, t.actor_type, t.actor_id, t.actor_name, t.action,
    t.resource_type, t.resource_id, t.outcome, t.status, t.request_id, t.client_request_id, t.trace_id,
    t.client_address, t.user_agent, t.changes, t.details, u.prev, u.hash
  FROM unnest(ids, seqs, ats, floors, prevs, hashes) AS u(id, seq, at, floor, prev, hash);
END
$fill$`;

/**
 * `count` audit events appended to the chain of `template` (an event as `GET /audit_events` shows it, the form its
 * hash was taken of), copies of it with their own id, `seq`, `at` (`stepMs` apart, on from the chain's last event)
 * and links, hashed in PostgreSQL: `audit verify` accepts the chain. One statement per 20,000 events.
 */
export async function bulkAuditEvents(pool: pg.Pool, template: AuditEvent, count: number, stepMs: number) {
  const { parts, fields } = canonicalParts(template);
  const client = await pool.connect();
  try {
    await client.query(auditChainFill);
    for (let done = 0; done < count; done += 20_000)
      await client.query('SELECT pg_temp.bulk_audit_events($1, $2, make_interval(secs => $3), $4, $5)', [
        template.id,
        Math.min(20_000, count - done),
        Math.max(1, Math.round(stepMs)) / 1000,
        parts,
        fields,
      ]);
  } finally {
    client.release();
  }
}
