import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ExecutionRecord } from '@toolplane/contracts';
import pg from 'pg';
import { migratedTestDatabase } from '../../db/test-database.ts';
import { storeExecutionRecords, storeRawExecutionRecords } from './store.ts';

/**
 * The workers' stream entries stored as they came (read by PostgreSQL) make the rows, the traffic rollup and the usage
 * the records parsed and written again by the control plane make: every kind of record, stored both ways in two
 * workspaces, gives the same rows.
 */

let pool: pg.Pool;
beforeAll(async () => {
  pool = new pg.Pool({ connectionString: await migratedTestDatabase('records_store'), max: 2 });
});
afterAll(async () => {
  await pool?.end();
});

const debugSession = randomUUID();
const step = {
  kind: 'http' as const,
  name: 'get_ticket',
  method: 'GET',
  urlTemplate: 'http://127.0.0.1/tickets/{id}',
  url: 'http://127.0.0.1/tickets/T-1',
  status: 200,
  outcome: 'response' as const,
  durationMs: 0.5,
  attempt: 1,
};

/** One record of each shape the `steps` column and the other columns take. */
function records(workspaceId: string, server: string, startedAt: string): ExecutionRecord[] {
  const base = {
    v: 1 as const,
    workspaceId,
    serverId: server,
    catalogVersion: 3,
    tool: 'get_ticket',
    caller: { keyId: 'k-1' },
    startedAt,
    durationMs: 1.5,
    outcome: 'success' as const,
    steps: [step],
  };
  const variants: Partial<ExecutionRecord>[] = [
    { costUnits: 1 },
    { costUnits: 2.5, caller: { keyId: 'k-2', username: 'ana' }, durationMs: 250 },
    { outcome: 'tool_error', errorCode: 'upstream_status', message: 'the upstream answered 503', costUnits: 1 },
    { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) },
    { traceId: 'c'.repeat(32) },
    { cached: true, steps: [] },
    {
      tree: [
        {
          kind: 'flow.run',
          workflowId: 'w',
          startedAt,
          durationMs: 2,
          status: 'ok',
          outcome: 'completed',
          children: [],
        },
      ],
    },
    { guardrails: [{ guardrail: 'g', detector: 'secrets', path: '$.token', action: 'redact' }] },
    { shape: { bytesBefore: 900, bytesAfter: 120 }, labels: [{ label: 'private', source: 'declared' }] },
    { caller: { subject: 'user-1' } },
    { caller: { keyId: 'k-3', actingVia: 'policy-1', username: 'bo' } },
    { caller: { keyId: 'k-3', delegation: { tokenId: 't-1', actors: [{ sub: 'agent' }] } as never } },
    { parentInvocationId: randomUUID(), sealedArguments: 'c2VhbGVk' },
    {
      receipt: {
        receipt: { receipt_version: 1, receipt_id: 'r-1', signature: 'c2lnbmVk' },
        salts: { input_salt: 'c2FsdA', output_salt: 'c2FsdDI' },
      },
    },
    { debug: { sessionId: debugSession, request: { headers: { accept: 'application/json' } } } },
    { outcome: 'rejected', errorCode: 'quota_exceeded', steps: [], durationMs: 0 },
    // A call the staging twin answered (ADR 0112): stored marked, in neither rollup nor usage.
    { caller: { keyId: 'k-twin', twin: true }, costUnits: 1, steps: [] },
  ];
  return variants.map((v) => ({ ...base, ...v, invocationId: randomUUID() }) as ExecutionRecord);
}

/** A workspace's rows of the records, the traffic rollup and usage, without ids (servers too), in one order. */
async function rowsOf(workspaceId: string) {
  const q = async (sql: string) =>
    (await pool.query(sql, [workspaceId])).rows.sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
  return {
    records: await q(`SELECT catalog_version, tool, key_id, username, started_at, duration_ms, outcome,
      error_code, message, steps, debug, debug_session_id, parent_invocation_id IS NOT NULL AS parent, sealed_arguments,
      receipt, twin
      FROM execution_records WHERE workspace_id = $1`),
    minutes: await q(`SELECT tool, minute, calls, errors, duration_sum_ms, duration_max_ms, latency_buckets
      FROM execution_stats_minutes WHERE workspace_id = $1`),
    usage: await q(`SELECT day, tool, key_id, person, calls, cost_units FROM usage_days
      WHERE workspace_id = $1`),
  };
}

describe('execution records stored as the workers wrote them', () => {
  it('make the rows, rollup and usage that the records parsed and written again make', async () => {
    // Each way its own workspace and server (the traffic rollup is kept by server).
    const [parsedWs, rawWs, server] = [randomUUID(), randomUUID(), randomUUID()];
    const at = new Date().toISOString();
    const parsed = records(parsedWs, randomUUID(), at);
    const raw = records(rawWs, server, at);
    const countsParsed = await storeExecutionRecords(pool, parsed);
    // Two entries, as two workers' batches; an empty entry is nothing.
    const entries = [JSON.stringify(raw.slice(0, 5)), '[]', JSON.stringify(raw.slice(5))];
    const countsRaw = await storeRawExecutionRecords(pool, entries);
    expect(countsRaw).toEqual(new Map([[server, raw.length]]));
    expect([...countsParsed.values()]).toEqual([raw.length]);
    const [a, b] = [await rowsOf(parsedWs), await rowsOf(rawWs)];
    expect(b.records).toHaveLength(raw.length);
    expect(b).toEqual(a);
    expect(b.records.filter((r) => r.twin).map((r) => r.key_id)).toEqual(['k-twin']);
    expect(b.usage.map((u) => u.key_id)).not.toContain('k-twin');
    expect(b.minutes.reduce((n, m) => n + m.calls + (m.refused ?? 0), 0)).toBe(raw.length - 2);
    // Stored again (a redelivered entry): nothing twice, the rollups unchanged.
    await storeRawExecutionRecords(pool, entries);
    expect(await rowsOf(rawWs)).toEqual(b);
  });

  it('leaves another version out, and refuses what only the parsed path mends (a lone surrogate)', async () => {
    const ws = randomUUID();
    const [one] = records(ws, randomUUID(), new Date().toISOString());
    const other = { ...one!, v: 2, invocationId: randomUUID() };
    // Another version has no id here (an integrity violation, class 23): the stream's parsed path leaves it out.
    const refused = await storeRawExecutionRecords(pool, [JSON.stringify([other])]).catch((e: unknown) => e);
    expect(String((refused as { code?: string }).code)).toMatch(/^23/);
    const lone = { ...one!, message: 'half \ud800 a pair' };
    const err = await storeRawExecutionRecords(pool, [JSON.stringify([lone])]).catch((e: unknown) => e);
    // A data exception (class 22): the stream then parses the entry and stores its records the other way, mended.
    expect(String((err as { code?: string }).code)).toMatch(/^22/);
    await storeExecutionRecords(pool, [lone]);
    const { rows } = await pool.query('SELECT message FROM execution_records WHERE workspace_id = $1', [ws]);
    expect(rows).toEqual([{ message: 'half \ufffd a pair' }]);
  });
});
