import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ExecutionRecord } from '@toolplane/contracts';
import pg from 'pg';
import { createDb, type Db } from '../../db/client.ts';
import { migratedTestDatabase } from '../../db/test-database.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { listExecutionRecords } from './handlers.ts';
import { ListQuery } from './schemas.ts';
import { storeExecutionRecords } from './store.ts';

/**
 * `GET /execution_records` with each filter its index serves (the caller's key, username and OAuth subject, the tool,
 * the outcome, a guardrail's finding) answers the workspace's records that match, newest first, page after page, and
 * none of another workspace's.
 */

let pool: pg.Pool;
let db: Db;
beforeAll(async () => {
  const url = await migratedTestDatabase('records_list');
  pool = new pg.Pool({ connectionString: url, max: 2 });
  db = createDb(url, () => undefined, 2);
});
afterAll(async () => {
  await db?.$disconnect();
  await pool?.end();
});

const [workspace, other] = [randomUUID(), randomUUID()];
const keyId = randomUUID();
const finding = (action: string) => ({ guardrail: 'g', detector: 'secrets', path: '$.token', action });

/** The same call's record in many shapes, one a minute, in the workspace and (the same shapes) in another. */
function records(workspaceId: string, serverId: string): ExecutionRecord[] {
  const variants: Partial<ExecutionRecord>[] = [
    {},
    { caller: { keyId: 'k-2', username: 'ana' } },
    { tool: 'create_ticket', caller: { keyId: 'k-2', username: 'ana' }, outcome: 'tool_error' },
    { caller: { subject: 'user-1' } },
    { caller: { subject: 'user-2', username: 'bo' }, outcome: 'failed', errorCode: 'upstream_unreachable' },
    { caller: { keyId: 'k-3', actingVia: 'policy-1', username: 'bo' } },
    { tool: 'create_ticket', guardrails: [finding('redact')] as never },
    { guardrails: [finding('block'), finding('would_flag')] as never, outcome: 'tool_error' },
    { tool: 'list_tickets', guardrails: [finding('would_redact')] as never },
    { outcome: 'rejected', errorCode: 'quota_exceeded', steps: [], durationMs: 0 },
    { tool: 'list_tickets', caller: { subject: 'user-1', keyId } },
    { caller: { keyId } },
  ];
  const start = Date.parse('2026-11-20T10:00:00Z');
  return [...variants, ...variants].map(
    (v, i) =>
      ({
        v: 1,
        workspaceId,
        serverId,
        catalogVersion: 3,
        tool: 'get_ticket',
        caller: { keyId: 'k-1' },
        startedAt: new Date(start + i * 60_000).toISOString(),
        durationMs: 1.5,
        outcome: 'success',
        steps: [],
        ...v,
        invocationId: randomUUID(),
      }) as ExecutionRecord,
  );
}

let mine: ExecutionRecord[];
beforeAll(async () => {
  mine = records(workspace, randomUUID());
  await storeExecutionRecords(pool, [...mine, ...records(other, randomUUID())]);
});

/** Every page of the list with `query`, two records a page: the records' ids in the order the pages gave them. */
async function listed(query: Record<string, string>): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const q = ListQuery.parse({ ...query, limit: '2', ...(cursor ? { cursor } : {}) });
    const input = { query: q, caller: { workspaceId: workspace } } as unknown as Input<undefined, ListQuery>;
    const page = await listExecutionRecords({ db } as ControlPlaneDeps, input);
    ids.push(...page.data.map((r) => r.id));
    cursor = page.next_cursor;
  } while (cursor);
  return ids;
}

/** The workspace's records that `match`, newest first. */
const expected = (match: (r: ExecutionRecord) => boolean) =>
  mine
    .filter(match)
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt))
    .map((r) => r.invocationId);

const actions = (r: ExecutionRecord) => (r.guardrails ?? []).map((f) => f.action as string);

describe('the execution records list, filtered', () => {
  it.each<[string, Record<string, string>, (r: ExecutionRecord) => boolean]>([
    ['no filter', {}, () => true],
    ['an API key', { key_id: keyId }, (r) => r.caller.keyId === keyId],
    ['a key with no calls', { key_id: randomUUID() }, () => false],
    ['a username', { username: 'bo' }, (r) => r.caller.username === 'bo'],
    ['an OAuth subject', { subject: 'user-1' }, (r) => r.caller.subject === 'user-1'],
    ['a tool', { tool: 'create_ticket' }, (r) => r.tool === 'create_ticket'],
    ['a tool never called', { tool: 'delete_ticket' }, () => false],
    ['an outcome', { outcome: 'tool_error' }, (r) => r.outcome === 'tool_error'],
    ['the successes', { outcome: 'success' }, (r) => r.outcome === 'success'],
    ['a refusal', { outcome: 'rejected' }, (r) => r.outcome === 'rejected'],
    ['a guardrail action', { guardrail_action: 'block' }, (r) => actions(r).includes('block')],
    ['any log-only finding', { guardrail_action: 'would_*' }, (r) => actions(r).some((a) => a.startsWith('would_'))],
    [
      'a key and an outcome',
      { key_id: 'k-2', outcome: 'tool_error' },
      (r) => r.caller.keyId === 'k-2' && r.outcome === 'tool_error',
    ],
    [
      'a tool in a time range',
      { tool: 'get_ticket', from: '2026-11-20T10:03:00Z', to: '2026-11-20T10:15:00Z' },
      (r) => r.tool === 'get_ticket' && r.startedAt >= '2026-11-20T10:03:00' && r.startedAt < '2026-11-20T10:15:00',
    ],
  ])('by %s: the matching records, newest first, every page', async (_name, query, match) => {
    const want = expected(match);
    expect(await listed(query)).toEqual(want);
  });

  it('has records for the filters to find (the cases above are not judged on empty answers)', () => {
    expect(expected((r) => r.caller.subject === 'user-1')).toHaveLength(4);
    expect(expected((r) => actions(r).includes('block'))).toHaveLength(2);
  });
});
