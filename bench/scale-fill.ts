// Bulk loads of bench/scale.ts: the rows and Redis keys the real write paths produce, written many at a time (one
// multi-row INSERT per batch, one Redis pipeline per batch). tests/e2e/deploy-and-scale/scale-fill.test.ts diffs a
// bulk-made API key against one `POST /api_keys` made.
import { createHash, randomUUID } from 'node:crypto';
import { redisKeys, type ApiKeyRecord } from '@toolplane/contracts';
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
