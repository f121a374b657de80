// bench/tool-call: throughput and latency of MCP tools/call through the whole path
// (agent → edge → Redis/BullMQ → worker → upstream → back), against the same HTTP request sent
// straight to the upstream, measured in one run on this machine. Not a test: it prints a table
// and the ratios; copy them into docs/benchmarks.md.
//
//   pnpm bench:tool-call [--seconds 10] [--workers 1] [--edges 1] [--fast-path false] [--worker-fetchers N]
//                        [--upstream-delay-ms 0] [--response-bytes 0] [--concurrency "1 32"] [--paths all|fast]
//                        [--node-options=--max-semi-space-size=32] [--worker-node-options=…] [--cpu-prof DIR]
//                        [--condition '<CEL>'] [--quotas N] [--redis-commands] [--redis single|cluster] [--shards N]
//                        [--no-cpu] [--json FILE]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { registerTicketExample, repoRoot, startStack } from '@toolplane/cli';
import { createManagementClient, unwrap } from '@toolplane/client';
import { startRedisCluster, type RedisClusterHandle } from '@toolplane/embedded';
import { ticketSystemDescriptorYaml } from '@toolplane/examples';
import { cpuSnapshot, sysMs, type CpuPerCall, type MeasuredProcess } from './cpu.ts';
import { getTicketCall, runLoad, type LoadResult, type LoadTarget } from './load.ts';
import { commandsPerCall, listLength } from './redis-commands.ts';
import {
  commitMeasured,
  costTable,
  formatIdle,
  idleCpu,
  processLines,
  syscalls,
  windowFigures,
  writeResults,
  type MeasuredRun,
  type Snapshot,
} from './tool-call-report.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    workers: { type: 'string', default: '1' },
    edges: { type: 'string', default: '1' },
    'worker-concurrency': { type: 'string' },
    /** WORKER_FETCHERS of the workers (BullMQ workers per process). */
    'worker-fetchers': { type: 'string' },
    /** `false`: every request through the MCP SDK (the edge's MCP_FAST_PATH), for comparison. */
    'fast-path': { type: 'string', default: 'true' },
    /** Write V8 CPU profiles of every service process into this directory. */
    'cpu-prof': { type: 'string' },
    /** Every upstream answer waits this long (ms), as a remote API would. */
    'upstream-delay-ms': { type: 'string', default: '0' },
    /** The called ticket's JSON grows to about this many bytes (comments), as a real API answer would. */
    'response-bytes': { type: 'string', default: '0' },
    /** The load's concurrencies (closed loops), e.g. "64 512" with a slow upstream. */
    concurrency: { type: 'string', default: '1 32' },
    /** NODE_OPTIONS for every service process (e.g. GC flags), after the services' own (`serviceNodeOptions`): these win. */
    'node-options': { type: 'string' },
    /** NODE_OPTIONS for the workers only, after `--node-options` (these win there): a flag for one service. */
    'worker-node-options': { type: 'string' },
    /** Which rows to run: `all`, or `fast` (the 2025-era tools/call only, and the upstream direct). */
    paths: { type: 'string', default: 'all' },
    /** Prometheus metrics on in every service (METRICS_PORT, as the k8s base sets it). */
    metrics: { type: 'boolean', default: false },
    /**
     * The calling key's tools granted by an access policy with this CEL condition (e.g.
     * `args.ticket_id.startsWith("TCK-")`): what evaluating a condition at the edge costs per call.
     */
    condition: { type: 'string' },
    /**
     * This many quotas apply to every call (calls per day, a limit never reached; ADR 0048): what the edge's charge
     * (one Redis script for all of a call's quotas) and the release cost per call.
     */
    quotas: { type: 'string', default: '0' },
    /** Count the Redis commands per call with `--paths fast` too (at c=1 and c=32; `all` always counts them). */
    'redis-commands': { type: 'boolean', default: false },
    /** LOG_LEVEL of the services (`info` is the default of `scripts/dev.sh` and of the k8s base). */
    'log-level': { type: 'string', default: 'warn' },
    /** `cluster`: the stack on a private Redis Cluster (3 masters, a replica each), CPU per call shown per master. */
    redis: { type: 'string', default: 'single' },
    /** REDIS_QUEUE_SHARDS of the edges and workers (with `--redis cluster`). */
    shards: { type: 'string', default: '1' },
    /**
     * CPU milliseconds per call of each process tree over each run's measured window, by role (edge, worker, Redis,
     * PostgreSQL, control plane) and summed; `--no-cpu` leaves it out.
     */
    cpu: { type: 'boolean', default: true },
    /** Where to write the results as JSON (default: `tool-call.json` in the run's data directory, printed at the end). */
    json: { type: 'string' },
  },
  allowNegative: true,
});
const upstreamDelayMs = Number(values['upstream-delay-ms']);
const concurrencies = values.concurrency
  .split(/[\s,]+/)
  .filter(Boolean)
  .map(Number);
const seconds = Number(values.seconds);
const allPaths = values.paths !== 'fast';
const nodeOptions = [
  values['node-options'],
  values['cpu-prof'] ? `--cpu-prof --cpu-prof-dir=${values['cpu-prof']}` : undefined,
]
  .filter(Boolean)
  .join(' ');

/** A process's resident memory (MB), from /proc. */
const rssMb = (pid: number) => (Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096) / 1e6;

/**
 * Watches the stack while runs go on (every 250 ms): each process's peak RSS, and the calls in flight in
 * the workers (the length of BullMQ's active list `activeList`, i.e. `<prefix>:tool-invocations:active`).
 */
function watchProcesses(procs: { pid: number }[], redisUrl: string, activeList: string) {
  const peakRssMb = procs.map(() => 0);
  const inFlight: number[] = [];
  let busy = false;
  const timer = setInterval(() => {
    procs.forEach((p, i) => (peakRssMb[i] = Math.max(peakRssMb[i]!, rssMb(p.pid))));
    if (busy || !redisUrl) return;
    busy = true;
    void listLength(redisUrl, activeList)
      .then((n) => inFlight.push(n))
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, 250);
  return {
    stop: async () => {
      clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 10));
      const mean = inFlight.reduce((a, b) => a + b, 0) / Math.max(1, inFlight.length);
      return { peakRssMb, inFlight: { peak: Math.max(0, ...inFlight), mean } };
    },
  };
}
/** The cluster's nodes as processes to measure: `redis master :<port>` and `redis replica :<port>`. */
function clusterNodes(cluster: RedisClusterHandle | undefined): MeasuredProcess[] {
  if (!cluster) return [];
  const masters = new Set(cluster.seeds.map((u) => Number(new URL(u).port)));
  return cluster.ports.map((port) => ({
    name: `redis ${masters.has(port) ? 'master' : 'replica'} :${port}`,
    pid: cluster.pidOf(port)!,
    role: 'redis',
  }));
}

/**
 * How the Redis CPU per call divides over the cluster's masters: the busiest against the mean (ADR 0043 aims at
 * ≤ 1.25×), the masters' total (against one Redis's per call), and what the replicas spend replicating.
 */
function clusterSplit(procs: { name: string }[], cpu: CpuPerCall) {
  const masters = procs.flatMap((p) => (p.name.startsWith('redis master') ? [cpu.byProcess[p.name]!] : []));
  const replicas = procs.flatMap((p) => (p.name.startsWith('redis replica') ? [cpu.byProcess[p.name]!] : []));
  const total = masters.reduce((a, b) => a + b, 0);
  const mean = total / Math.max(1, masters.length);
  return (
    `Redis masters ${masters.map((m) => m.toFixed(3)).join(' / ')} CPU ms per call: total ${total.toFixed(3)}, ` +
    `busiest ${(Math.max(...masters) / mean).toFixed(2)}× the mean; replicas ${replicas.reduce((a, b) => a + b, 0).toFixed(3)} in all`
  );
}

const apiKey = 'bench-upstream-key';

const upstreamProc = spawn(
  process.execPath,
  [
    '--conditions=@toolplane/source',
    join(repoRoot, 'bench', 'upstream.ts'),
    apiKey,
    '0',
    String(upstreamDelayMs),
    values['response-bytes'],
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const upstreamUrl = await new Promise<string>((resolve) =>
  upstreamProc.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())),
);
const onCluster = values.redis === 'cluster';
const cluster: RedisClusterHandle | undefined = onCluster ? await startRedisCluster() : undefined;
const shardsEnv: Record<string, string> = onCluster ? { REDIS_QUEUE_SHARDS: values.shards } : {};

// A stack that fails to start must not leave the upstream running (its pipe would keep this process waiting).
const stack = await startStack({
  dataDir: mkdtempSync(join(tmpdir(), 'toolplane-bench-')),
  workers: Number(values.workers),
  edges: Number(values.edges),
  logLevel: values['log-level'],
  // Each service's /metrics on a free port, as the k8s base turns them on.
  ...(values.metrics ? { metricsPort: 0 } : {}),
  ...(nodeOptions ? { env: { NODE_OPTIONS: nodeOptions } } : {}),
  ...(cluster ? { redis: { REDIS_CLUSTER_NODES: cluster.seeds.join(',') } } : {}),
  serviceEnv: {
    edge: { MCP_FAST_PATH: values['fast-path'] === 'false' ? 'false' : 'true', ...shardsEnv },
    worker: {
      ...shardsEnv,
      ...(values['worker-node-options']
        ? { NODE_OPTIONS: [nodeOptions, values['worker-node-options']].filter(Boolean).join(' ') }
        : {}),
      ...(values['worker-concurrency'] ? { WORKER_CONCURRENCY: values['worker-concurrency'] } : {}),
      ...(values['worker-fetchers'] ? { WORKER_FETCHERS: values['worker-fetchers'] } : {}),
    },
  },
}).catch(async (err: unknown) => {
  upstreamProc.kill('SIGTERM');
  await cluster?.stop();
  throw err;
});
try {
  // The seed descriptor without its rate limit (1,000 calls a minute would throttle the benchmark).
  const unlimited = ticketSystemDescriptorYaml.replace(/\nrate_limits:\n(?: {2}.*\n)+/, '\n');
  if (unlimited === ticketSystemDescriptorYaml)
    throw new Error('could not remove rate_limits from the example descriptor');
  const api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  const example = await registerTicketExample(api, upstreamUrl, apiKey, 'bench', unlimited);
  if (values.condition) {
    // Named by a policy, the key gets only its grants: every tool, when the condition holds.
    const key = (await unwrap(api.GET('/api_keys'))).data.find((k) => k.name === 'bootstrap')!;
    await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'bench-condition',
          principals: [{ type: 'api_key', value: key.id }],
          servers: ['*'],
          tools: ['*'],
          condition: values.condition,
        },
      }),
    );
  }
  for (let i = 0; i < Number(values.quotas); i++)
    await unwrap(
      api.POST('/quotas', {
        body: { name: `bench-quota-${i}`, match: {}, counts: 'calls', limit: 1e9, window: 'day' },
      }),
    );
  // A three-step Flower workflow tool (each step one upstream GET, the key from the server's $secrets):
  // what a workflow step costs on top of the queue hop.
  const flowServer = await unwrap(api.POST('/mcp_manager', { body: { name: 'bench-flow', mode: 'NORMAL' } }));
  const step = (id: string, ticket: string) => ({
    id,
    request: {
      method: 'GET',
      url: `${upstreamUrl}/api/v1/tickets/${ticket}`,
      headers: { 'X-API-Key': '$secrets.API_KEY' },
    },
    outputs: { title: '$response.body.title' },
  });
  await unwrap(
    api.POST('/mcp_servers/{id}/deploy', {
      params: { path: { id: flowServer.id } },
      body: {
        definition: JSON.stringify({
          flower: '0.1',
          id: 'bench-flow',
          flows: [
            {
              id: 'three_tickets',
              description: 'Three tickets, one request each',
              steps: [step('a', 'TCK-1'), step('b', 'TCK-2'), step('c', 'TCK-3')],
              outputs: { a: '$steps.a.outputs.title', b: '$steps.b.outputs.title', c: '$steps.c.outputs.title' },
            },
          ],
        }),
      },
    }),
  );
  await unwrap(
    api.PUT('/mcp_servers/{id}/secrets/{name}', {
      params: { path: { id: flowServer.id, name: 'API_KEY' } },
      body: { value: apiKey },
    }),
  );
  const direct = {
    url: `${upstreamUrl}/api/v1/tickets/TCK-1`,
    method: 'GET' as const,
    headers: { 'x-api-key': apiKey, accept: 'application/json' },
  };
  // With more edges the load is spread over all of them (the same path on each edge's origin).
  const onOtherEdges = (url: string) =>
    stack.edgeUrls.slice(1).map((origin) => new URL(new URL(url).pathname, origin).href);
  const mcp = { ...getTicketCall(example.mcpUrl, stack.bootstrapKey), alternates: onOtherEdges(example.mcpUrl) };
  // CPU time each process tree spends per call (utime + stime from /proc, bench/cpu.ts), to see where the cost is.
  const postmaster = Number(readFileSync(join(stack.dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const procs: MeasuredProcess[] = [
    ...stack.processes.map((p) => ({ name: p.name, pid: p.child.pid!, role: p.service })),
    { name: 'upstream', pid: upstreamProc.pid!, role: 'upstream' },
    ...(stack.redisPid ? [{ name: 'redis', pid: stack.redisPid, role: 'redis' as const }] : []),
    ...clusterNodes(cluster),
    // The postmaster's tree: its live backends and what its ended children used.
    { name: 'postgres', pid: postmaster, role: 'postgres' },
    { name: 'bench (load generator)', pid: process.pid, role: 'bench', ownOnly: true },
  ];
  // The same call in the 2026-07-28 wire format: per-request envelope, routing headers, JSON response.
  const envelope = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  const mcpModern = {
    ...mcp,
    headers: {
      ...mcp.headers,
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'get_ticket',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' }, _meta: envelope },
    }),
  };
  const workflow = {
    ...mcp,
    url: flowServer.url,
    alternates: onOtherEdges(flowServer.url),
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'three_tickets', arguments: {} },
    }),
    check: (_s: number, body: string) => body.includes('Typo on pricing page') && !body.includes('"isError":true'),
  };
  const results: MeasuredRun[] = [];
  const snapshot = (): Snapshot => ({
    cpu: cpuSnapshot(procs),
    sys: procs.map((p) => sysMs(p.pid)),
    io: procs.map((p) => syscalls(p.pid)),
    us: Number(process.hrtime.bigint() / 1000n),
  });
  // Each process's RSS before any load: what "above idle" is measured from.
  const idleRssMb = procs.map((p) => rssMb(p.pid));
  /** One load run through the stack, with CPU per call over exactly its measured window (after the warm-up). */
  const measuredRun = async (label: string, target: LoadTarget, c: number): Promise<MeasuredRun> => {
    if (!values.cpu) return runLoad(label, target, c, seconds);
    let start: Snapshot | undefined;
    let end: Snapshot | undefined;
    // (In a cluster the active lists are one per shard, on several masters: not watched.)
    const watch = watchProcesses(procs, cluster ? '' : stack.redisUrl, `${stack.redisPrefix}:tool-invocations:active`);
    const r = await runLoad(label, target, c, seconds, {
      onStart: () => (start = snapshot()),
      onEnd: () => (end = snapshot()),
    });
    const seen = await watch.stop();
    return { ...r, ...windowFigures(procs, start!, end!, r.requests), seen, idleRssMb };
  };
  for (const c of concurrencies) {
    results.push(await runLoad('upstream direct', direct, c, seconds));
    results.push(await measuredRun('tools/call via Toolplane', mcp, c));
    if (allPaths) results.push(await measuredRun('tools/call via Toolplane (2026-07-28)', mcpModern, c));
    if (allPaths) results.push(await measuredRun('three-step Flower workflow via Toolplane', workflow, c));
  }
  // What the stack spends with no call at all, after the runs (warm) and a second to settle (CPU ms per second by role:
  // BullMQ's blocking fetches and stalled-job checks, timers, the control plane's loops): at C=1 a good part of the
  // CPU per call is this, spread over few calls.
  const idle = values.cpu ? await new Promise((r) => setTimeout(r, 1000)).then(() => idleCpu(procs, 2)) : undefined;
  // Redis commands per call (INFO commandstats deltas), at c=1 and c=32, in the 2025-11-25 wire format.
  const redisCommands: string[] = [];
  const oneCall = async () => {
    const res = await fetch(mcp.url, { method: 'POST', headers: mcp.headers, body: mcp.body });
    const body = await res.text();
    if (!mcp.check(res.status, body)) throw new Error(`unexpected answer ${res.status}: ${body.slice(0, 200)}`);
  };
  // (Not with a slow upstream: the counts do not change, the runs would only take longer.)
  for (const [c, n] of upstreamDelayMs > 0 || (!allPaths && !values['redis-commands']) || cluster
    ? []
    : ([
        [1, 500],
        [32, 3200],
      ] as const)) {
    const { total, byCommand } = await commandsPerCall(stack.redisUrl, oneCall, n, c);
    redisCommands.push(
      `c=${c}: ${total.toFixed(1)} Redis commands per call (` +
        byCommand.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') +
        ')',
    );
  }
  const row = (r: LoadResult) =>
    `| ${r.label} | ${r.concurrency} | ${r.throughput.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} |`;
  console.log(
    `\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; ` +
      `${seconds}s per run, 1s warm-up; workers=${values.workers}, edges=${values.edges}, fast path ${values['fast-path']}; ` +
      (values.quotas !== '0' ? `${values.quotas} quotas on every call; ` : '') +
      (cluster ? `Redis Cluster of 3 masters + 3 replicas, ${values.shards} queue shard(s); ` : '') +
      `upstream delay ${upstreamDelayMs} ms, answers of ${values['response-bytes'] === '0' ? 'the seed size' : `about ${values['response-bytes']} bytes`}\n`,
  );
  console.log(
    '| path | concurrency | calls/s | p50 ms | p99 ms | errors |\n| --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of results) console.log(row(r));
  if (values.cpu) {
    for (const r of results) {
      if (cluster && r.cpu) console.log(`c=${r.concurrency} ${r.label}: ${clusterSplit(procs, r.cpu)}`);
      for (const line of processLines(procs, r)) console.log(line);
    }
    console.log('\n' + costTable(results));
    if (idle) console.log(`idle, no calls: ${formatIdle(idle)}`);
  }
  console.log('\n' + redisCommands.join('\n'));
  console.log('\nratios (Toolplane / direct):');
  for (const c of concurrencies) {
    const d = results.find((r) => r.concurrency === c && r.label === 'upstream direct')!;
    const t = results.find((r) => r.concurrency === c && r.label === 'tools/call via Toolplane')!;
    console.log(
      `  c=${c}: throughput ${(t.throughput / d.throughput).toFixed(2)}×, p50 ${(t.p50 / d.p50).toFixed(2)}×, p50 added ${(t.p50 - d.p50).toFixed(2)} ms`,
    );
  }
  console.log('\nthree-step workflow against one HTTP tool (same wire format):');
  for (const c of allPaths ? concurrencies : []) {
    const t = results.find((r) => r.concurrency === c && r.label === 'tools/call via Toolplane')!;
    const w = results.find((r) => r.concurrency === c && r.label === 'three-step Flower workflow via Toolplane')!;
    console.log(
      `  c=${c}: ${w.throughput.toFixed(0)} vs ${t.throughput.toFixed(0)} calls/s; ` +
        `p50 ${w.p50.toFixed(2)} vs ${t.p50.toFixed(2)} ms: ${((w.p50 - t.p50) / 2).toFixed(2)} ms per extra step`,
    );
  }
  const t32 = results.find((r) => r.concurrency === 32 && r.label === 'tools/call via Toolplane');
  const t1 = results.find((r) => r.concurrency === 1 && r.label === 'tools/call via Toolplane');
  if (t32 && t1 && upstreamDelayMs === 0)
    console.log(
      `\ntarget (docs/benchmarks.md): ≥ 2400 calls/s at c=32 → ${t32.throughput.toFixed(0)} ` +
        `(${((t32.throughput / 2400) * 100).toFixed(0)}%); p50 ≤ 1.5 ms at c=1 → ${t1.p50.toFixed(2)} ms`,
    );
  const jsonFile = values.json ?? join(stack.dataDir, 'tool-call.json');
  writeResults(jsonFile, {
    commit: commitMeasured(repoRoot),
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    options: { ...values, seconds, concurrencies, upstreamDelayMs },
    processes: procs,
    runs: results,
    idleCpuMsPerSecond: idle?.byRole,
    redisCommands,
  });
  console.log(`\nresults: ${jsonFile}`);
} finally {
  await stack.stop();
  await cluster?.stop();
  upstreamProc.kill('SIGTERM');
  // The services' logs stay (GC observers and the like write there); the database cluster (150 MB a run) goes.
  rmSync(join(stack.dataDir, 'postgres'), { recursive: true, force: true });
  console.error(`logs: ${join(stack.dataDir, 'logs')}`);
}
