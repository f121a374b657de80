// bench/rollup: the traffic rollup of ADR 0025 under load, and the overview's reads over a month of rows.
// Not a test: it prints what it measured; copy it into docs/benchmarks.md.
//
//   pnpm bench:rollup [--rate 2000] [--seconds 60] [--servers 100]
//
// 1. Lag: execution records go into the record stream the way workers send them (ExecutionRecordSink), at
//    `--rate` records a second for `--seconds`, spread over `--servers` servers × 5 tools. Every second it prints
//    the stream's backlog (entries not yet stored and acknowledged: the control plane deletes an entry once its
//    batch is stored with its rollup rows), then how long the backlog took to drain after the last record, and
//    checks that the rollup counted every record once.
// 2. Reads: a month of minute rows (and its 10-minute rows) for `--servers` servers is seeded into the same
//    database, then `GET /stats` is timed over HTTP as the overview page calls it (the workspace and one server,
//    the hour and the day; median and slowest of 9), beside `GET /mcp_manager`, the page's other call.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startStack } from '@toolplane/cli';
import { createManagementClient, unwrap } from '@toolplane/client';
import type { ExecutionRecord } from '@toolplane/contracts';
import { ExecutionRecordSink } from '@toolplane/queue';
import { Redis } from 'ioredis';
import pg from 'pg';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '60' },
    servers: { type: 'string', default: '100' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const serverCount = Number(values.servers);
const tools = ['search', 'get', 'create', 'update', 'export'];

const stack = await startStack({ dataDir: mkdtempSync(join(tmpdir(), 'toolplane-bench-rollup-')), logLevel: 'warn' });
const redis = new Redis(stack.redisUrl);
const db = new pg.Client({ connectionString: stack.databaseUrl });
try {
  await db.connect();
  const api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  const workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
  const servers = Array.from({ length: serverCount }, () => randomUUID());
  const streamKey = `${stack.redisPrefix}:execution-records`;
  const sink = new ExecutionRecordSink(redis, stack.redisPrefix, {
    maxLen: 1_000_000,
    onError: (err) => console.error('sink:', err),
  });

  // 1. Lag at `rate` records a second.
  let sent = 0;
  let errors = 0;
  const record = (i: number): ExecutionRecord => {
    const failed = i % 50 === 0;
    if (failed) errors++;
    return {
      v: 1,
      invocationId: randomUUID(),
      workspaceId,
      serverId: servers[i % serverCount]!,
      catalogVersion: 1,
      tool: tools[i % tools.length]!,
      caller: { keyId: 'bench' },
      startedAt: new Date().toISOString(),
      durationMs: 5 + (i % 200),
      outcome: failed ? 'tool_error' : 'success',
      ...(failed ? { errorCode: 'tool.upstream_error' } : {}),
      steps: [],
    };
  };
  const backlog: number[] = [];
  const started = Date.now();
  console.log(`feeding ${rate} records/s for ${seconds} s over ${serverCount} servers × ${tools.length} tools`);
  console.log('second  sent     backlog (stream entries not yet stored)');
  const tickMs = 10;
  const sampler = setInterval(() => {
    void redis.xlen(streamKey).then((n) => {
      backlog.push(n);
      console.log(`${String(backlog.length).padStart(6)}  ${String(sent).padStart(7)}  ${n}`);
    });
  }, 1000);
  while (Date.now() - started < seconds * 1000) {
    const due = Math.floor(((Date.now() - started) / 1000) * rate);
    while (sent < due) sink.add(record(sent++));
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await sink.flush();
  const fedAt = Date.now();
  clearInterval(sampler);
  while ((await redis.xlen(streamKey)) > 0) await new Promise((r) => setTimeout(r, 20));
  const drainMs = Date.now() - fedAt;
  const counted = await db.query<{ calls: string; errors: string }>(
    'SELECT sum(calls) AS calls, sum(errors) AS errors FROM execution_stats_minutes',
  );
  const stored = await db.query<{ n: string }>('SELECT count(*) AS n FROM execution_records');
  sink.close();
  const half = backlog.slice(Math.floor(backlog.length / 2));
  console.log(
    `\nsent ${sent} records (${errors} errors) in ${((fedAt - started) / 1000).toFixed(1)} s ` +
      `(${Math.round(sent / ((fedAt - started) / 1000))}/s); backlog peak ${Math.max(0, ...backlog)}, ` +
      `mean over the second half ${Math.round(half.reduce((a, b) => a + b, 0) / Math.max(1, half.length))}; ` +
      `drained ${drainMs} ms after the last record`,
  );
  console.log(
    `stored ${stored.rows[0]!.n} records; rollup counts ${counted.rows[0]!.calls} calls, ${counted.rows[0]!.errors} errors`,
  );
  if (Number(counted.rows[0]!.calls) !== sent || Number(counted.rows[0]!.errors) !== errors)
    throw new Error('the rollup does not count every record once');

  // 2. A month of rows for every server, then the overview's reads.
  const seedStarted = Date.now();
  // Rows as the rollup writes them: 10 calls a minute (100 per 10 minutes), all in one latency bucket (the 11th).
  const seed = (table: string, step: string, calls: number) =>
    db.query(
      `INSERT INTO ${table} (workspace_id, server_id, tool, minute, calls, errors, duration_sum_ms, duration_max_ms,
         latency_buckets)
       SELECT $1, s, 'search', m, $3, $3 / 10, $3 * 20, 40,
              array_fill(0, ARRAY[10]) || ARRAY[$3::int] || array_fill(0, ARRAY[17])
         FROM unnest($2::uuid[]) AS s,
              generate_series(date_trunc('hour', now() AT TIME ZONE 'UTC') - interval '30 days',
                              date_trunc('hour', now() AT TIME ZONE 'UTC') - interval '2 hours', interval '${step}') AS m
       ON CONFLICT DO NOTHING`,
      [workspaceId, servers, calls],
    );
  await seed('execution_stats_minutes', '1 minute', 10);
  await seed('execution_stats_ten_minutes', '10 minutes', 100);
  await db.query('ANALYZE execution_stats_minutes; ANALYZE execution_stats_ten_minutes');
  const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM execution_stats_minutes');
  console.log(`\nseeded in ${((Date.now() - seedStarted) / 1000).toFixed(0)} s: ${rows.rows[0]!.n} minute rows`);
  const time = async (label: string, call: () => Promise<unknown>) => {
    const ms: number[] = [];
    for (let i = 0; i < 9; i++) {
      const t = performance.now();
      await call();
      ms.push(performance.now() - t);
    }
    ms.sort((a, b) => a - b);
    console.log(`${label.padEnd(40)} median ${ms[4]!.toFixed(1)} ms, slowest ${ms[8]!.toFixed(1)} ms`);
  };
  const stats = (query: { window: '1h' | '24h'; server_id?: string }) => () =>
    unwrap(api.GET('/stats', { params: { query: { top: 5, ...query } } }));
  await time('GET /stats (workspace, 1h)', stats({ window: '1h' }));
  await time('GET /stats (workspace, 24h)', stats({ window: '24h' }));
  await time('GET /stats (one server, 1h)', stats({ window: '1h', server_id: servers[0] }));
  await time('GET /stats (one server, 24h)', stats({ window: '24h', server_id: servers[0] }));
  await time('GET /mcp_manager', () => unwrap(api.GET('/mcp_manager', { params: { query: { limit: 100 } } })));
} finally {
  redis.disconnect();
  await db.end();
  await stack.stop();
  // A month of rows for 100 servers is gigabytes: the run's data directory goes with it.
  rmSync(stack.dataDir, { recursive: true, force: true });
}
