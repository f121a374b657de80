// bench/list-plans: the plans of the execution records' list and of the audit trail, filter by filter, at a size.
// Fills one workspace's records (copies of one record, 31 days, a third each of three tools, one in twenty a tool
// error: bench/scale-fill.ts's bulk load) and its audit chain, then runs each list's statement as the control plane
// sends it (the SQL Prisma writes for `GET /execution_records` and `GET /audit_events`, parameters bound, one page)
// under EXPLAIN ANALYZE, each filter with a value that matches nothing (the worst case: every row the plan reads is
// read for nothing). `--drop-index NAME` (repeatable): the plans again after those indexes are dropped, on the same
// rows (the plans as they were before the indexes).
//
//   pnpm bench:list-plans [--records 1000000] [--audit-events 1000000] [--runs 3] [--drop-index name]… [--out dir]
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '@toolplane/cli';
import { startEmbeddedPostgres } from '@toolplane/embedded';
import pg from 'pg';
import { bulkRecords } from './scale-fill.ts';
import { commitMeasured } from './tool-call-report.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    'audit-events': { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    'drop-index': { type: 'string', multiple: true, default: [] },
    out: { type: 'string' },
  },
});
const stamp = new Date()
  .toISOString()
  .replace(/[-:]/g, '')
  .replace(/\.\d+Z$/, 'Z');
const outDir = values.out ?? join(repoRoot, 'bench', 'results', `${stamp}-list-plans`);
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

const dataDir = mkdtempSync(join(tmpdir(), 'list-plans-'));
const handle = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pg') });
await handle.createDatabase('toolplane');
const url = handle.url('toolplane');
const { execSync } = await import('node:child_process');
execSync('pnpm --filter @toolplane/control-plane exec prisma migrate deploy', {
  env: { ...process.env, DATABASE_URL: url },
  stdio: 'ignore',
});
const pool = new pg.Pool({ connectionString: url, max: 1 });
pool.on('error', () => undefined); // the server stopped under an idle connection at the end

const workspaceId = randomUUID();
const serverId = randomUUID();
const keyId = randomUUID();
const fillTimes: Record<string, number> = {};

/** One record as the records store writes an API key's call, and its bulk copies. */
async function fillRecords(count: number) {
  const template = randomUUID();
  const steps = {
    steps: [{ id: 'http', status: 200, durationMs: 12.5, url: 'https://tickets.example.com/api/v1/tickets/TCK-1' }],
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
  };
  await pool.query(
    `INSERT INTO execution_records (id, workspace_id, server_id, catalog_version, tool, key_id, started_at,
       duration_ms, outcome, steps) VALUES ($1, $2, $3, 3, 'get_ticket', $4, now(), 12.5, 'success', $5)`,
    [template, workspaceId, serverId, keyId, JSON.stringify(steps)],
  );
  const t0 = process.hrtime.bigint();
  await bulkRecords(pool, { id: template }, count - 1, 31, ['get_ticket', 'list_tickets', 'create_ticket']);
  fillTimes.records = ms(t0);
}

/**
 * The workspace's audit chain: `count` events over 31 days, four actions of three resource types, by one key; one in
 * a thousand appended late (its `at` ten minutes behind the chain's, an edge's event that reached the control plane
 * late), one in a hundred a few seconds behind (appends that waited for the chain's lock). `at_floor` as
 * `appendAuditEvent` sets it: the chain's latest `at` so far less a minute.
 */
async function fillAudit(count: number) {
  const t0 = process.hrtime.bigint();
  for (let start = 1; start <= count; start += 100_000) {
    await pool.query(
      `INSERT INTO audit_events (id, chain, seq, workspace_id, at, at_floor, actor_type, actor_id, actor_name, action,
         resource_type, resource_id, outcome, status, request_id, changes, details, prev_hash, hash)
       SELECT gen_random_uuid(), $1::text, g, $1::uuid,
         t - CASE WHEN g % 1000 = 0 THEN interval '10 minutes' WHEN g % 100 = 0 THEN interval '3 seconds'
                  ELSE interval '0' END,
         t - CASE WHEN g % 100 = 0 THEN make_interval(secs => $3::float8) ELSE interval '0' END - interval '1 minute',
         'api_key', $4::text, 'deploy-bot', (ARRAY['server.update','access_policy.create','api_key.create',
         'tool.call'])[1 + g % 4], (ARRAY['server','access_policy','api_key','tool'])[1 + g % 4],
         gen_random_uuid()::text, CASE WHEN g % 20 = 0 THEN 'refused' ELSE 'success' END, 200,
         gen_random_uuid()::text, '{"name":{"from":"a","to":"b"}}'::jsonb, NULL, repeat('0', 64), repeat('f', 64)
       FROM generate_series($5::int, $6::int) g,
         LATERAL (SELECT $7::timestamptz - make_interval(secs => ($2::int - g) * $3::float8) AS t) l`,
      [workspaceId, count, (31 * 86_400) / count, keyId, start, Math.min(count, start + 99_999), fillNow],
    );
  }
  fillTimes.auditEvents = ms(t0);
}

const recordsPage = (where: string) =>
  `SELECT * FROM execution_records WHERE (workspace_id = $1 AND ${where}) ` +
  'ORDER BY started_at DESC, id DESC LIMIT 51 OFFSET 0';
const auditPage = (where: string, order = 'DESC') =>
  `SELECT * FROM audit_events WHERE (chain = $1 AND ${where}) ORDER BY seq ${order} LIMIT 101 OFFSET 0`;
const guardrail = (n: number) =>
  `((steps#>ARRAY[$${n}]::text[])::jsonb @> $${n + 1} AND ` +
  `JSONB_TYPEOF((steps#>ARRAY[$${n + 2}]::text[])::jsonb) = $${n + 3})`;
const fillNow = new Date();
const dayAgo = (days: number) => new Date(fillNow.getTime() - days * 86_400_000);
const none = randomUUID();
const floorMinute = 60_000;

/** The chain's actions, one step of the action index each (`chainActions`, GET /audit_events with a pattern). */
const chainActions = `WITH RECURSIVE a(action) AS (
    (SELECT action FROM audit_events WHERE chain = $1 ORDER BY action LIMIT 1)
    UNION ALL
    SELECT (SELECT e.action FROM audit_events e WHERE e.chain = $1 AND e.action > a.action ORDER BY e.action LIMIT 1)
      FROM a WHERE a.action IS NOT NULL
  ) SELECT action FROM a WHERE action IS NOT NULL`;
/** `seqBounds`: the last event whose floor is before `to`, the first whose floor reached a minute before `from`. */
const inTimeUpTo = `SELECT seq FROM audit_events WHERE (chain = $1 AND at_floor < $2)
  ORDER BY at_floor DESC, seq DESC LIMIT 1 OFFSET 0`;
const fromSeq = `SELECT seq FROM audit_events WHERE (chain = $1 AND at_floor >= $2)
  ORDER BY at_floor ASC, seq ASC LIMIT 1 OFFSET 0`;
const seqOf = async (sql: string, params: unknown[]) =>
  (await pool.query<{ seq: number }>(sql, params)).rows[0]?.seq ?? 0;
const toBound = dayAgo(20);

/**
 * Each list's statement as Prisma writes it (its query log, 2026-11-29), with a value that matches nothing; the
 * parameters of the statements after a first one (ADR 0105: a bound `seq`) as a function run before them.
 */
const queries: [string, string, unknown[] | (() => Promise<unknown[]>)][] = [
  ['records: newest page', recordsPage('true'), [workspaceId]],
  ['records: server_id (no calls)', recordsPage('server_id = $2'), [workspaceId, none]],
  ['records: tool (no calls)', recordsPage('tool = $2'), [workspaceId, 'never_called']],
  ['records: key_id (no calls)', recordsPage('key_id = $2'), [workspaceId, none]],
  ['records: username (no calls)', recordsPage('username = $2'), [workspaceId, 'nobody']],
  [
    'records: subject (no calls)',
    recordsPage('(steps#>ARRAY[$2, $3]::text[])::jsonb::jsonb = $4'),
    [workspaceId, 'caller', 'subject', JSON.stringify('nobody')],
  ],
  ['records: outcome failed (none)', recordsPage('outcome = $2'), [workspaceId, 'failed']],
  ['records: outcome tool_error', recordsPage('outcome = $2'), [workspaceId, 'tool_error']],
  [
    'records: guardrail_action block (none)',
    recordsPage(guardrail(2)),
    [workspaceId, 'guardrails', JSON.stringify([{ action: 'block' }]), 'guardrails', 'array'],
  ],
  ['records: parent_invocation_id (none)', recordsPage('parent_invocation_id = $2'), [workspaceId, none]],
  [
    'records: one day 20 days ago',
    recordsPage('started_at >= $2 AND started_at < $3'),
    [workspaceId, dayAgo(21), dayAgo(20)],
  ],
  ['audit: newest page', auditPage('true'), [workspaceId]],
  ['audit: actor (none)', auditPage('(actor_id = $2 OR actor_name = $3)'), [workspaceId, 'nobody', 'nobody']],
  ['audit: action (none)', auditPage('action = $2'), [workspaceId, 'workspace.delete']],
  ['audit: action prefix server.* ', auditPage(`action::text LIKE ($2 || '%')`), [workspaceId, 'server.']],
  ['audit: action prefix (none)', auditPage(`action::text LIKE ($2 || '%')`), [workspaceId, 'quota.']],
  ['audit: action suffix (none)', auditPage(`action::text LIKE ('%' || $2)`), [workspaceId, '.would_refuse']],
  ['audit: resource_type (none)', auditPage('resource_type = $2'), [workspaceId, 'quota']],
  ['audit: resource_id (none)', auditPage('resource_id = $2'), [workspaceId, 'nothing']],
  ['audit: outcome failed (none)', auditPage('outcome = $2'), [workspaceId, 'failed']],
  ['audit: to 20 days ago', auditPage('at < $2'), [workspaceId, toBound]],
  ['audit: from 20 days ago, oldest first', auditPage('at >= $2', 'ASC'), [workspaceId, toBound]],
  // How GET /audit_events sends them since ADR 0105: an action pattern as the chain's actions that it names (none for
  // quota.* and *.would_refuse: no page is read), a time bound as a `seq` bound from `at_floor`.
  ["audit 0105: the chain's actions (a pattern)", chainActions, [workspaceId]],
  [
    'audit 0105: action *.create (two actions)',
    auditPage('action IN ($2, $3)'),
    [workspaceId, 'access_policy.create', 'api_key.create'],
  ],
  ['audit 0105: to: the last in time order', inTimeUpTo, [workspaceId, toBound]],
  [
    'audit 0105: to 20 days ago, appended late',
    auditPage('at < $2 AND seq > $3 AND at < at_floor'),
    async () => [workspaceId, toBound, await seqOf(inTimeUpTo, [workspaceId, toBound])],
  ],
  [
    'audit 0105: to 20 days ago, in time order',
    auditPage('at < $2 AND seq <= $3'),
    async () => [workspaceId, toBound, await seqOf(inTimeUpTo, [workspaceId, toBound])],
  ],
  ['audit 0105: from: the first event', fromSeq, [workspaceId, new Date(toBound.getTime() - floorMinute)]],
  [
    'audit 0105: from 20 days ago, oldest first',
    auditPage('at >= $2 AND seq >= $3', 'ASC'),
    async () => [workspaceId, toBound, await seqOf(fromSeq, [workspaceId, new Date(toBound.getTime() - floorMinute)])],
  ],
];

interface Plan {
  name: string;
  /** The server's execution time per run (EXPLAIN ANALYZE), ms. */
  executionMs: number[];
  seqScan: boolean;
  rowsRemovedByFilter: number;
  plan: string;
}

/** The rows a plan's filters removed, summed over its nodes (a parallel node's figure is per loop: times its loops). */
function removedRows(plan: string): number {
  let loops = 1;
  let sum = 0;
  for (const line of plan.split('\n')) {
    const node = /loops=(\d+)\)/.exec(line);
    if (node) loops = Number(node[1]);
    const removed = /Rows Removed by Filter: (\d+)/.exec(line);
    if (removed) sum += Number(removed[1]) * loops;
  }
  return sum;
}

async function explainAll(): Promise<Plan[]> {
  const runs = Number(values.runs);
  const out: Plan[] = [];
  for (const [name, sql, bound] of queries) {
    const params = typeof bound === 'function' ? await bound() : bound;
    const executionMs: number[] = [];
    let text = '';
    for (let i = 0; i < runs; i++) {
      const plan = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
      text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
      executionMs.push(Number(/Execution Time: ([\d.]+)/.exec(text)?.[1]));
    }
    out.push({ name, executionMs, seqScan: /Seq Scan/.test(text), rowsRemovedByFilter: removedRows(text), plan: text });
    console.error(`${name}: ${executionMs.map((v) => v.toFixed(1)).join(' / ')} ms`);
  }
  return out;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const line = (p: Plan) =>
  `${median(p.executionMs).toFixed(1)} ms${p.seqScan ? ' (seq scan)' : ''}, ${p.rowsRemovedByFilter} rows read for nothing`;

try {
  await fillRecords(Number(values.records));
  await fillAudit(Number(values['audit-events']));
  await pool.query('VACUUM ANALYZE execution_records');
  await pool.query('VACUUM ANALYZE audit_events');
  const plans = await explainAll();
  const sizes = await pool.query<{ name: string; mb: string }>(
    `SELECT c.relname AS name, round(pg_relation_size(c.oid) / 1e6, 1) AS mb FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND (c.relname LIKE 'execution_records%' OR c.relname LIKE 'audit_events%')
     ORDER BY c.relname`,
  );
  for (const index of values['drop-index']) await pool.query(`DROP INDEX "${index}"`);
  const without = values['drop-index'].length > 0 ? await explainAll() : [];
  mkdirSync(outDir, { recursive: true });
  const commit = commitMeasured(repoRoot);
  const result = {
    commit,
    records: Number(values.records),
    auditEvents: Number(values['audit-events']),
    fillMs: fillTimes,
    relationMb: Object.fromEntries(sizes.rows.map((r) => [r.name, Number(r.mb)])),
    plans,
    droppedIndexes: values['drop-index'],
    plansWithoutThem: without,
  };
  const file = join(outDir, 'plans.json');
  writeFileSync(file, JSON.stringify(result, null, 2));
  console.log(`at ${commit}, ${values.records} records, ${values['audit-events']} audit events`);
  for (const [i, p] of plans.entries())
    console.log(`${p.name}: ${line(p)}${without[i] ? `; without the dropped indexes ${line(without[i])}` : ''}`);
  console.log(`results: ${file}`);
} finally {
  await pool.end();
  await handle.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
