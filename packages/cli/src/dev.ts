// toolplane dev: the whole platform on one machine, on embedded defaults, with the seed-001
// ticket-system example registered and ready to call.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createManagementClient } from '@toolplane/client';
import { startRedisCluster, startRedisSentinel } from '@toolplane/embedded';
import { startTicketSystem } from '@toolplane/examples';
import { registerTicketExample, reuseTicketExample } from './example.ts';
import { repoRoot, startStack } from './stack.ts';

/** The example's MCP server: one per data directory, found again by this name on every start. */
const EXAMPLE_SERVER = 'ticket-system';

export interface DevOptions {
  /** Default: `.data` in the checkout. */
  dataDir?: string;
  port: string;
  apiPort: string;
  examplePort: string;
  /** Prometheus metrics on (as in the k8s base): the control plane on this port, the edge and the worker on the next two. */
  metricsPort?: string;
  verbose: boolean;
  /** `single` (a private redis-server, the default), `cluster` (3 masters + 3 replicas) or `sentinel`. */
  redis?: string;
  /** With `cluster`: REDIS_QUEUE_SHARDS of the edge and the worker. */
  queueShards?: string;
}

/** A private Redis of the chosen form for the stack (ADR 0043): its services' variables, and how to stop it. */
interface DevRedis {
  env?: Record<string, string>;
  /** What the banner says of it. */
  label: string;
  stop(): Promise<void>;
}

async function devRedis(form: string | undefined): Promise<DevRedis> {
  if (form === 'cluster') {
    const cluster = await startRedisCluster();
    const env = { REDIS_CLUSTER_NODES: cluster.seeds.join(',') };
    return {
      env,
      label: `a Redis Cluster, 3 masters + 3 replicas (${env.REDIS_CLUSTER_NODES})`,
      stop: () => cluster.stop(),
    };
  }
  if (form === 'sentinel') {
    const s = await startRedisSentinel();
    const sentinels = s.sentinels.map((a) => `${a.host}:${a.port}`).join(',');
    const env = { REDIS_SENTINELS: sentinels, REDIS_SENTINEL_MASTER: s.masterName };
    return { env, label: `Sentinel, master "${s.masterName}" (sentinels ${sentinels})`, stop: () => s.stop() };
  }
  if (form !== undefined && form !== 'single')
    throw new Error(`--redis takes single, cluster or sentinel, not "${form}"`);
  return { label: 'a private redis-server', stop: () => Promise.resolve() }; // the stack starts its own
}

/** Starts the platform and the example, prints how to use them, and runs until SIGINT/SIGTERM. */
export async function runDev(options: DevOptions): Promise<void> {
  const values = { ...options, dataDir: options.dataDir ?? join(repoRoot, '.data') };
  const upstreamKey = `demo_${randomBytes(8).toString('hex')}`;
  const upstream = await startTicketSystem({ apiKey: upstreamKey, port: Number(values.examplePort), record: false });
  const redis = await devRedis(values.redis);
  const shards: Record<string, string> =
    values.queueShards && values.queueShards !== '1' ? { REDIS_QUEUE_SHARDS: values.queueShards } : {};
  const stack = await startStack({
    ...(redis.env ? { redis: redis.env } : {}),
    serviceEnv: { edge: shards, worker: shards },
    dataDir: values.dataDir,
    edgePort: Number(values.port),
    controlPlanePort: Number(values.apiPort),
    echo: values.verbose,
    ...(values.metricsPort ? { metricsPort: Number(values.metricsPort) } : {}),
    // The example upstream runs on 127.0.0.1, and workers refuse private addresses unless allowed (outbound guard).
    outboundAllow: '127.0.0.1',
  });
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping…');
    await stack.stop();
    await redis.stop();
    await upstream.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());

  const api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  // The same data directory again: the example registered last time, pointed at this run's ticket system.
  const example =
    (await reuseTicketExample(api, upstream.url, upstreamKey, EXAMPLE_SERVER)) ??
    (await registerTicketExample(api, upstream.url, upstreamKey, EXAMPLE_SERVER));
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  // The inspector v2 CLI installed with the workspace, run by the pinned Node (it needs Node >= 22.19).
  const inspectorBin = join(
    repoRoot,
    'tests',
    'node_modules',
    '@modelcontextprotocol',
    'inspector',
    'clients',
    'launcher',
    'build',
    'index.js',
  );
  const inspector = `${q(process.execPath)} ${q(inspectorBin)} --cli ${example.mcpUrl} --transport http --header ${q(`x-api-key: ${stack.bootstrapKey}`)}`;

  console.log(`
Toolplane is running (data in ${values.dataDir}, logs in ${join(values.dataDir, 'logs')}).

  dashboard      ${stack.controlPlaneUrl}/    (sign in with the API key below)
  control plane  ${stack.controlPlaneUrl}/api/v1
  MCP server     ${example.mcpUrl}    (tools: ${example.tools.join(', ')})
  API key        ${stack.bootstrapKey}
  example API    ${upstream.url}  (the seed-001 ticket system)
  redis          ${redis.label}${shards.REDIS_QUEUE_SHARDS ? `, the tool-call queue in ${shards.REDIS_QUEUE_SHARDS} shards` : ''}${Object.entries(
    stack.metricsUrls,
  )
    .map(([name, url]) => `\n  metrics        ${url}  (${name})`)
    .join('')}

List the tools:
  ${inspector} --method tools/list

Call one:
  ${inspector} --method tools/call --tool-name search_tickets --tool-arg status=open

Manage it with the CLI (docs/cli.md), from another terminal:
  export TOOLPLANE_URL=${stack.controlPlaneUrl} TOOLPLANE_API_KEY=${stack.bootstrapKey}
  ${q(join(repoRoot, 'scripts', 'toolplane'))} servers list

Press Ctrl-C to stop.`);
}
