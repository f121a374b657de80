// bench/scale: how cost grows with the installation. One stack (two edges, one worker) per dimension, filled size
// after size (bulk loads of bench/scale-fill.ts, or the real management API where a bulk load would not make the
// same rows and keys), measured at each size side by side with the smallest: the call path (calls/s, p50/p99 and CPU
// per call per process, a caller in the first workspace), each process's resident memory, Redis's memory and keys,
// PostgreSQL's size, an edge's and a worker's start until ready, a revoked key's time until both edges refuse it,
// and per dimension its own reads (a server's tools/list, the records' heaviest queries with their plans, the
// management API's pages and reports as p50/p95, `audit verify` from a checkpoint).
//
//   pnpm bench:scale [--dimension api-keys|workspaces|tools|policies|records|audit-events|people|sessions|all]
//                    [--sizes 10,1000,100000]
//                    [--quick] [--seconds 5] [--concurrency 32] [--out bench/results/<UTC time>-scale]
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { registerTicketExample, repoRoot, startStack, type Stack } from '@toolplane/cli';
import { createManagementClient, unwrap, type ManagementClient } from '@toolplane/client';
import type { AuditEvent } from '@toolplane/contracts';
import { ticketSystemDescriptorYaml } from '@toolplane/examples';
import { addToSession } from '@toolplane/queue';
import { Redis } from 'ioredis';
import pg from 'pg';
import { cpuPerCall, cpuSnapshot, type MeasuredProcess } from './cpu.ts';
import { getTicketCall, runLoad } from './load.ts';
import { bulkApiKeys, bulkAuditEvents, bulkPeople, bulkRecords, bulkSessions } from './scale-fill.ts';
import { commitMeasured } from './tool-call-report.ts';

const dimensions = {
  'api-keys': { sizes: [10, 10_000, 100_000], quick: [10, 1_000] },
  workspaces: { sizes: [1, 30, 100], quick: [1, 5] },
  tools: { sizes: [10, 300, 1_000], quick: [10, 50] },
  policies: { sizes: [1, 100, 300], quick: [1, 10] },
  records: { sizes: [0, 100_000, 1_000_000], quick: [0, 10_000] },
  'audit-events': { sizes: [100, 100_000, 1_000_000], quick: [100, 5_000] },
  people: { sizes: [10, 10_000, 100_000], quick: [10, 1_000] },
  sessions: { sizes: [10, 10_000, 100_000], quick: [10, 1_000] },
} as const;
type Dimension = keyof typeof dimensions;

const { values } = parseArgs({
  options: {
    dimension: { type: 'string', default: 'all' },
    sizes: { type: 'string' },
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
    out: { type: 'string' },
  },
});
const seconds = Number(values.seconds) / (values.quick ? 5 : 1);
const concurrency = Number(values.concurrency);
const chosen = (values.dimension === 'all' ? Object.keys(dimensions) : values.dimension.split(',')) as Dimension[];
for (const d of chosen) if (!(d in dimensions)) throw new Error(`unknown dimension ${d}`);
const stamp = new Date()
  .toISOString()
  .replace(/[-:]/g, '')
  .replace(/\.\d+Z$/, 'Z');
const outDir = values.out ?? join(repoRoot, 'bench', 'results', `${stamp}-scale`);

const upstreamKey = 'bench-upstream-key';
const rssMb = (pid: number) => (Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096) / 1e6;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const unlimited = ticketSystemDescriptorYaml.replace(/\nrate_limits:\n(?: {2}.*\n)+/, '\n');

interface Filled {
  stack: Stack;
  api: ManagementClient;
  pool: pg.Pool;
  redis: Redis;
  workspaceId: string;
  mcpUrl: string;
  serverId: string;
  upstreamUrl: string;
  /** Per-dimension figures of the last measurement (tools/list, query plans…). */
  extra: Record<string, unknown>;
}

/** Grows the installation from `from` to `to` of the dimension. */
type Fill = (f: Filled, from: number, to: number) => Promise<void>;

const fills: Record<Dimension, Fill> = {
  'api-keys': async (f, from, to) => {
    const creator = await f.pool.query<{ id: string }>("SELECT id FROM api_keys WHERE name = 'bootstrap'");
    await bulkApiKeys(f.pool, f.redis, f.stack.redisPrefix, f.workspaceId, creator.rows[0]!.id, from, to);
  },
  // Through POST /workspaces: each is a workspace row, its first key, its session settings and its access document.
  workspaces: async (f, from, to) => {
    for (let i = Math.max(1, from); i < to; i++)
      await unwrap(f.api.POST('/workspaces', { body: { name: `scale-${i}` } }));
  },
  // One Flower server of `to` one-step tools in the caller's workspace, deployed again at each size.
  tools: async (f, _from, to) => {
    const server = await unwrap(f.api.POST('/mcp_manager', { body: { name: `scale-tools-${to}`, mode: 'NORMAL' } }));
    const flows = Array.from({ length: to }, (_, i) => ({
      id: `scale_tool_${i}`,
      description: `Ticket ${i} of the scale bench`,
      steps: [
        {
          id: 'a',
          request: {
            method: 'GET',
            url: `${f.upstreamUrl}/api/v1/tickets/TCK-1`,
            headers: { 'X-API-Key': upstreamKey },
          },
          outputs: { title: '$response.body.title' },
        },
      ],
      outputs: { title: '$steps.a.outputs.title' },
    }));
    const t0 = process.hrtime.bigint();
    await unwrap(
      f.api.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: server.id } },
        body: { definition: JSON.stringify({ flower: '0.1', id: `scale-tools-${to}`, flows }) },
      }),
    );
    f.extra.deployMs = ms(t0);
    f.extra.toolsList = await toolsListMs(f, server.url);
  },
  // Policies naming the caller's key, each granting the called tool with a condition that holds: the key gets only
  // its grants, and every call of that tool is judged against all of them (ADR 0036).
  policies: async (f, from, to) => {
    const key = (await unwrap(f.api.GET('/api_keys'))).data.find((k) => k.name === 'bootstrap')!;
    for (let i = from; i < to; i++)
      await unwrap(
        f.api.POST('/access_policies', {
          body: {
            name: `scale-${i}`,
            principals: [{ type: 'api_key', value: key.id }],
            servers: ['*'],
            tools: ['get_ticket'],
            condition: `args.ticket_id != "NOT-${i}"`,
          },
        }),
      );
  },
  records: async (f, from, to) => {
    const template = await f.pool.query<{ id: string }>('SELECT id FROM execution_records ORDER BY started_at LIMIT 1');
    await bulkRecords(f.pool, template.rows[0]!, to - from, 31, ['get_ticket', 'list_tickets', 'create_ticket']);
    await f.pool.query('ANALYZE execution_records');
    f.extra.queries = await recordQueries(f);
    f.extra.reads = await recordReads(f);
  },
  // Events appended to the caller's workspace's chain: copies of its newest, hashed and linked in PostgreSQL.
  'audit-events': async (f, from, to) => {
    await bulkAuditEvents(f.pool, await newestEvent(f), to - from, auditStepMs);
    await f.pool.query('ANALYZE audit_events');
    f.extra.reads = await auditReads(f, to);
  },
  people: async (f, from, to) => {
    await bulkPeople(
      f.pool,
      f.redis,
      f.stack.redisPrefix,
      { id: f.workspaceId, attributes: { team: 'scale' } },
      from,
      to,
    );
    await f.pool.query('ANALYZE external_users');
    // The first page (an unpaged call), a page from the middle of the list, one person by name.
    const middle = await f.pool.query<{ id: string; name: string }>(
      'SELECT id, name FROM external_users WHERE workspace_id = $1 ORDER BY created_at, id OFFSET $2 LIMIT 1',
      [f.workspaceId, Math.floor(to / 2)],
    );
    const { id: cursor, name } = middle.rows[0]!;
    f.extra.reads = {
      'GET /external_users (first page)': await timed(() => f.api.GET('/external_users')),
      'GET /external_users?cursor= (mid-list)': await timed(() =>
        f.api.GET('/external_users', { params: { query: { cursor } } }),
      ),
      'GET /external_users?name=': await timed(() => f.api.GET('/external_users', { params: { query: { name } } })),
    };
  },
  // The workspace keeps sessions (settings with a log-only rule); each session a key's, copies of one the worker's
  // `addToSession` wrote with a label and a call.
  sessions: async (f, from, to) => {
    if (from === 0) await sessionTemplate(f);
    const scopes = Array.from({ length: to - from }, () => `k:${randomUUID()}`);
    await bulkSessions(f.redis, f.stack.redisPrefix, f.workspaceId, templateScope, scopes);
    const path = { scope: scopes.at(-1)! };
    f.extra.reads = {
      'GET /sessions/{scope}': await timed(() => f.api.GET('/sessions/{scope}', { params: { path } })),
    };
  },
};

/** The time between two bulk audit events: 10 million of them span 29 days. */
const auditStepMs = 250;
const templateScope = `k:${randomUUID()}`;

async function sessionTemplate(f: Filled) {
  const rule = { id: 'scale', after: ['private'], toolLabels: ['external_write'], action: 'refuse', enforce: false };
  await unwrap(f.api.PUT('/session_settings', { body: { ttlSeconds: 86_400, rules: [rule] } as never }));
  const mcpSession = { scopes: [templateScope], ttlSeconds: 86_400, via: 'mcp-session-scale' };
  await addToSession(
    f.redis,
    { prefix: f.stack.redisPrefix, workspaceId: f.workspaceId, session: mcpSession },
    {
      tool: 'get_ticket',
      serverId: f.serverId,
      invocationId: randomUUID(),
      at: Date.now(),
      labels: [{ label: 'private', source: 'declared' }],
      countCall: true,
    },
  );
}

/** The management API's answer `n` times in a row: p50 and p95 (ms), and the last answer's bytes. */
async function timed(run: () => Promise<{ response: Response; data?: unknown }>, n = 20) {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const { response, data } = await run();
    times.push(ms(t0));
    if (!response.ok) throw new Error(`${response.url}: ${response.status}`);
    bytes = JSON.stringify(data).length;
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(n / 2)]!, p95: times[Math.ceil(n * 0.95) - 1]!, bytes };
}

/** The records' list (filtered), the dashboard's usage chart and least privilege through the management API. */
async function recordReads(f: Filled) {
  const list = (query: Record<string, string>) => () => f.api.GET('/execution_records', { params: { query } });
  return {
    'GET /execution_records': await timed(list({})),
    'GET /execution_records?tool=': await timed(list({ tool: 'create_ticket' })),
    'GET /execution_records?outcome=tool_error': await timed(list({ outcome: 'tool_error' })),
    'GET /execution_records?key_id= (no calls)': await timed(list({ key_id: 'none' })),
    'GET /stats?window=24h': await timed(() => f.api.GET('/stats', { params: { query: { window: '24h' } } })),
    'GET /least_privilege (7 days)': await timed(() => f.api.GET('/least_privilege'), 5),
  };
}

const cliMain = join(repoRoot, 'packages', 'cli', 'src', 'main.ts');

/** `toolplane <args> --json` from this checkout's sources against the stack: its answer and its time (ms). */
async function cliJson(f: Filled, ...args: string[]) {
  const t0 = process.hrtime.bigint();
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--conditions=@toolplane/source', cliMain, ...args, '--json'],
    {
      env: { ...process.env, TOOLPLANE_URL: f.stack.controlPlaneUrl, TOOLPLANE_API_KEY: f.stack.bootstrapKey },
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return { ms: ms(t0), answer: JSON.parse(stdout) as Record<string, unknown> };
}

const newestEvent = async (f: Filled) =>
  (await unwrap(f.api.GET('/audit_events', { params: { query: { limit: 1 } } }))).data[0] as unknown as AuditEvent;

/**
 * The trail's pages (newest, a rare action, an action pattern, the caller's own events, up to the middle of the
 * chain) and `audit verify`: from a checkpoint at the chain's last event, over 1,000 events appended after it and
 * then over none (the CLI's own start); from the start while the chain is at most 100,000 events.
 */
async function auditReads(f: Filled, size: number) {
  const newest = await newestEvent(f);
  const middle = new Date(Date.parse(newest.at) - (size * auditStepMs) / 2).toISOString();
  const page = (query: Record<string, string>) => () => f.api.GET('/audit_events', { params: { query } });
  const reads: Record<string, unknown> = {
    'GET /audit_events': await timed(page({})),
    'GET /audit_events?action= (rare)': await timed(page({ action: 'api_key.delete' })),
    'GET /audit_events?action=quota.*': await timed(page({ action: 'quota.*' })),
    'GET /audit_events?actor=': await timed(page({ actor: newest.actor.id ?? 'bootstrap' })),
    'GET /audit_events?to= (middle)': await timed(page({ to: middle })),
  };
  const checkpoint = join(f.stack.dataDir, 'audit-checkpoint.json');
  writeFileSync(checkpoint, JSON.stringify({ chain: newest.chain, seq: newest.seq, hash: newest.hash, at: newest.at }));
  await bulkAuditEvents(f.pool, newest, 1_000, auditStepMs);
  const verify = (...more: string[]) => cliJson(f, 'audit', 'verify', ...more);
  const after1000 = await verify('--checkpoint', checkpoint);
  const afterNone = await verify('--checkpoint', checkpoint);
  reads['audit verify --checkpoint (1,000 new)'] = { ms: after1000.ms, checked: after1000.answer.checked };
  reads['audit verify --checkpoint (none new)'] = { ms: afterNone.ms, checked: afterNone.answer.checked };
  if (size <= 100_000) {
    const full = await verify();
    reads['audit verify (from the start)'] = { ms: full.ms, checked: full.answer.checked };
  }
  return reads;
}

/** A server's tools/list through the edge, with the bootstrap key: median of 5 (ms) and the answer's bytes. */
async function toolsListMs(f: Filled, url: string) {
  const call = getTicketCall(url, f.stack.bootstrapKey);
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 6; i++) {
    const t0 = process.hrtime.bigint();
    const res = await fetch(url, {
      method: 'POST',
      headers: call.headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    bytes = (await res.text()).length;
    if (i > 0) times.push(ms(t0)); // the first loads the catalog
  }
  return { medianMs: times.sort((a, b) => a - b)[2], bytes };
}

/**
 * The records' heaviest reads and the retention's writes as the control plane sends them, each with its plan
 * (EXPLAIN ANALYZE; the writes inside a transaction rolled back): the time, and whether a whole table is scanned.
 */
async function recordQueries(f: Filled) {
  const ws = f.workspaceId;
  const queries: [string, string, unknown[]][] = [
    [
      'records list, newest 51',
      'SELECT * FROM execution_records WHERE workspace_id = $1 ORDER BY started_at DESC, id DESC LIMIT 51',
      [ws],
    ],
    [
      'records list, one tool',
      "SELECT * FROM execution_records WHERE workspace_id = $1 AND tool = 'create_ticket' ORDER BY started_at DESC, id DESC LIMIT 51",
      [ws],
    ],
    [
      'records list, a key with no calls',
      "SELECT * FROM execution_records WHERE workspace_id = $1 AND key_id = 'none' ORDER BY started_at DESC, id DESC LIMIT 51",
      [ws],
    ],
    [
      'records list, errors of the last day',
      "SELECT * FROM execution_records WHERE workspace_id = $1 AND outcome = 'tool_error' " +
        "AND started_at >= now() - interval '1 day' ORDER BY started_at DESC, id DESC LIMIT 51",
      [ws],
    ],
    [
      'retention: records older than 30 days',
      "DELETE FROM execution_records WHERE started_at < now() - interval '30 days'",
      [],
    ],
    [
      'retention: debug captures older than 24 h',
      "UPDATE execution_records SET debug = NULL WHERE debug IS NOT NULL AND started_at < now() - interval '24 hours'",
      [],
    ],
  ];
  const out: Record<string, { ms: number; seqScan: boolean; plan: string }> = {};
  const client = await f.pool.connect();
  try {
    for (const [name, sql, params] of queries) {
      await client.query('BEGIN');
      const t0 = process.hrtime.bigint();
      const plan = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ANALYZE ${sql}`, params);
      const took = ms(t0);
      await client.query('ROLLBACK');
      const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
      out[name] = { ms: took, seqScan: /Seq Scan/.test(text), plan: text };
    }
  } finally {
    client.release();
  }
  return out;
}

/** How long until both edges refuse a key just revoked (each edge polled with it; ms per edge). */
async function revocationMs(f: Filled): Promise<number[]> {
  const created = await unwrap(
    f.api.POST('/api_keys', { body: { name: `revoked-${Date.now()}`, scopes: ['runtime'] } }),
  );
  const calls = f.stack.edgeUrls.map((origin) =>
    getTicketCall(new URL(new URL(f.mcpUrl).pathname, origin).href, created.key!),
  );
  const status = async (c: (typeof calls)[number]) => {
    const res = await fetch(c.url, { method: 'POST', headers: c.headers, body: c.body });
    await res.text();
    return res.status;
  };
  for (const c of calls) if ((await status(c)) !== 200) throw new Error('a new key was refused');
  const t0 = process.hrtime.bigint();
  await unwrap(f.api.DELETE('/api_keys/{id}', { params: { path: { id: created.id } } }));
  return Promise.all(
    calls.map(async (c) => {
      while ((await status(c)) === 200) await new Promise((r) => setTimeout(r, 2));
      return ms(t0);
    }),
  );
}

/** Each process's resident memory, Redis's memory and keys, PostgreSQL's database size. */
async function footprint(f: Filled, procs: MeasuredProcess[]) {
  const info = await f.redis.info('memory');
  const redisMb = Number(/used_memory:(\d+)/.exec(info)?.[1]) / 1e6;
  const keys = await f.redis.dbsize();
  const db = await f.pool.query<{ size: string }>('SELECT pg_database_size(current_database()) AS size');
  return {
    rssMb: Object.fromEntries(procs.map((p) => [p.name, Number(rssMb(p.pid).toFixed(1))])),
    redisMb: Number(redisMb.toFixed(2)),
    redisKeys: keys,
    postgresMb: Number((Number(db.rows[0]!.size) / 1e6).toFixed(1)),
  };
}

/** An edge stopped and started again, and one more worker, each until ready (ms). */
async function startUps(stack: Stack) {
  // The first edge by name: a restarted one goes to the end of `processes`.
  const edge = stack.processes.find((p) => p.name === 'edge-1')!;
  await stack.stopProcess(edge);
  let t0 = process.hrtime.bigint();
  await stack.startEdge(0);
  const edgeMs = ms(t0);
  t0 = process.hrtime.bigint();
  const worker = await stack.addWorker();
  const workerMs = ms(t0);
  await stack.stopProcess(worker);
  return { edgeMs, workerMs };
}

function measured(stack: Stack, upstreamPid: number): MeasuredProcess[] {
  const postmaster = Number(readFileSync(join(stack.dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return [
    ...stack.processes.map((p) => ({ name: p.name, pid: p.child.pid!, role: p.service })),
    { name: 'upstream', pid: upstreamPid, role: 'upstream' as const },
    { name: 'redis', pid: stack.redisPid!, role: 'redis' as const },
    { name: 'postgres', pid: postmaster, role: 'postgres' as const },
  ];
}

async function measureSize(f: Filled, upstreamPid: number, size: number) {
  const startup = await startUps(f.stack);
  const procs = measured(f.stack, upstreamPid);
  const target = { ...getTicketCall(f.mcpUrl, f.stack.bootstrapKey) };
  let before: number[] = [];
  let after: number[] = [];
  const load = await runLoad('tools/call', target, concurrency, seconds, {
    onStart: () => (before = cpuSnapshot(procs)),
    onEnd: () => (after = cpuSnapshot(procs)),
  });
  const cpu = cpuPerCall(procs, before, after, load.requests);
  return {
    size,
    call: {
      throughput: load.throughput,
      p50: load.p50,
      p99: load.p99,
      errors: load.errors,
      cpuByRole: cpu.byRole,
      cpuSum: cpu.sum,
    },
    footprint: await footprint(f, procs),
    startup,
    revocationMs: await revocationMs(f),
    ...structuredClone(f.extra),
  };
}

type SizeResult = Awaited<ReturnType<typeof measureSize>>;

async function runDimension(dimension: Dimension, sizes: number[]): Promise<SizeResult[]> {
  const upstream = spawn(
    process.execPath,
    ['--conditions=@toolplane/source', join(repoRoot, 'bench', 'upstream.ts'), upstreamKey, '0', '0', '0'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const upstreamUrl = await new Promise<string>((r) =>
    upstream.stdout.once('data', (d: Buffer) => r(d.toString().trim())),
  );
  const dataDir = mkdtempSync(join(tmpdir(), 'toolplane-scale-'));
  const stack = await startStack({ dataDir, edges: 2, workers: 1, logLevel: 'warn' });
  const pool = new pg.Pool({ connectionString: stack.databaseUrl, max: 2 });
  const redis = new Redis(stack.redisUrl);
  try {
    const api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
    const example = await registerTicketExample(api, upstreamUrl, upstreamKey, 'scale', unlimited);
    const bootstrap = await pool.query<{ workspace_id: string }>(
      "SELECT workspace_id FROM api_keys WHERE name = 'bootstrap'",
    );
    const workspaceId = bootstrap.rows[0]!.workspace_id;
    const f: Filled = {
      stack,
      api,
      pool,
      redis,
      workspaceId,
      mcpUrl: example.mcpUrl,
      serverId: example.serverId,
      upstreamUrl,
      extra: {},
    };
    // One call stores the record the records' bulk load copies.
    await runLoad('warm-up', getTicketCall(example.mcpUrl, stack.bootstrapKey), 4, 1);
    const results: SizeResult[] = [];
    let filled = 0;
    for (const size of sizes) {
      const t0 = process.hrtime.bigint();
      await fills[dimension](f, filled, size);
      const fillMs = ms(t0);
      filled = size;
      const r = { ...(await measureSize(f, upstream.pid!, size)), fillMs };
      console.error(`${dimension} ${size}: ${JSON.stringify({ ...r, queries: undefined })}`);
      results.push(r);
    }
    return results;
  } finally {
    redis.disconnect();
    await pool.end();
    await stack.stop();
    upstream.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const f1 = (n: number | undefined) => (n === undefined ? '' : n.toFixed(1));
const f3 = (n: number | undefined) => (n === undefined ? '' : n.toFixed(3));
const ratio = (n: number, base: number) => (base > 0 ? ` (${(n / base).toFixed(2)}×)` : '');

/** One markdown table of a dimension: each size against the smallest. */
function table(dimension: Dimension, rows: SizeResult[]): string {
  const base = rows[0]!;
  const role = (r: SizeResult, k: string) => (r.call.cpuByRole as Record<string, number>)[k];
  const lines = [
    `### ${dimension}`,
    '',
    '| size | calls/s | p50 / p99 ms | CPU ms per call: edge / worker / Redis / PG / CP (sum) | RSS MB: edges / worker / CP | ' +
      'Redis MB (keys) | PG MB | edge / worker start ms | revoked key refused ms (both edges) | dimension |',
    '| ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    const rss = r.footprint.rssMb;
    const edges = Object.entries(rss)
      .filter(([n]) => n.startsWith('edge'))
      .map(([, v]) => f1(v))
      .join(' + ');
    const own = dimensionCell(r);
    lines.push(
      `| ${r.size.toLocaleString('en')} | ${r.call.throughput.toFixed(0)}${ratio(r.call.throughput, base.call.throughput)} | ` +
        `${r.call.p50.toFixed(2)} / ${r.call.p99.toFixed(2)} | ` +
        `${['edge', 'worker', 'redis', 'postgres', 'control-plane'].map((k) => f3(role(r, k))).join(' / ')} ` +
        `(${f3(r.call.cpuSum)}${ratio(r.call.cpuSum, base.call.cpuSum)}) | ` +
        `${edges} / ${f1(rss['worker-1'])} / ${f1(rss['control-plane'])} | ` +
        `${f1(r.footprint.redisMb)} (${r.footprint.redisKeys}) | ${f1(r.footprint.postgresMb)} | ` +
        `${r.startup.edgeMs.toFixed(0)} / ${r.startup.workerMs.toFixed(0)} | ${r.revocationMs.map((v) => v.toFixed(0)).join(', ')} | ${own} |`,
    );
  }
  return lines.join('\n');
}

function dimensionCell(r: SizeResult): string {
  const x = r as SizeResult & {
    toolsList?: { medianMs: number; bytes: number };
    deployMs?: number;
    queries?: Record<string, { ms: number; seqScan: boolean }>;
    reads?: Record<string, { p50?: number; p95?: number; bytes?: number; ms?: number; checked?: number }>;
  };
  const reads = Object.entries(x.reads ?? {}).map(([name, v]) =>
    v.p95 !== undefined
      ? `${name}: ${v.p50!.toFixed(1)} / ${v.p95.toFixed(1)} ms (${v.bytes} B)`
      : `${name}: ${v.ms!.toFixed(0)} ms (${v.checked} events)`,
  );
  if (reads.length > 0 && !x.queries)
    return `${reads.join('; ')}; fill ${(r as SizeResult & { fillMs: number }).fillMs.toFixed(0)} ms`;
  if (x.toolsList)
    return `deploy ${x.deployMs!.toFixed(0)} ms, tools/list ${x.toolsList.medianMs.toFixed(1)} ms (${x.toolsList.bytes} B)`;
  if (x.queries)
    return [
      ...Object.entries(x.queries).map(
        ([name, q]) => `${name}: ${q.ms.toFixed(1)} ms${q.seqScan ? ' (seq scan)' : ''}`,
      ),
      ...reads,
    ].join('; ');
  return `fill ${(r as SizeResult & { fillMs: number }).fillMs.toFixed(0)} ms`;
}

mkdirSync(outDir, { recursive: true });
const commit = commitMeasured(repoRoot);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`;
const tables: string[] = [
  `Taken ${new Date().toISOString()} at ${commit} on ${machine}; ${seconds}s per load run at ${concurrency} in flight, ` +
    'upstream answering at once; two edges, one worker. Load average at the start: ' +
    readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
];
for (const dimension of chosen) {
  const sizes = values.sizes
    ? values.sizes.split(',').map(Number)
    : [...dimensions[dimension][values.quick ? 'quick' : 'sizes']];
  const rows = await runDimension(dimension, sizes);
  writeFileSync(
    join(outDir, `${dimension}.json`),
    JSON.stringify({ commit, machine, dimension, seconds, concurrency, rows }, null, 2),
  );
  tables.push(table(dimension, rows));
  writeFileSync(join(outDir, 'tables.md'), tables.join('\n\n') + '\n');
  console.log(`\n${tables.at(-1)}`);
}
console.log(`\nresults: ${outDir}`);
