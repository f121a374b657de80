import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  startEmbeddedPostgres,
  startRedisServer,
  type PostgresHandle,
  type RedisHandle,
} from '@toolplane/embedded';
import { ReceiptSigner } from '@toolplane/receipts';
import { generateSealingKeyPair } from '@toolplane/secrets';

export const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

type ServiceName = 'control-plane' | 'edge' | 'worker';

export interface ServiceProcess {
  name: string;
  service: ServiceName;
  child: ChildProcess;
  /** Everything the process printed (stdout and stderr), for tests to search. */
  output: () => string;
  url?: string;
}

export interface StackOptions {
  /** Where PostgreSQL data, sealed secrets, keys and logs live. */
  dataDir: string;
  /** Use this Redis instead of starting a private redis-server. */
  redisUrl?: string;
  /**
   * Redis in another form (ADR 0043): the services' Redis variables, e.g. `{ REDIS_CLUSTER_NODES }` or
   * `{ REDIS_SENTINELS, REDIS_SENTINEL_MASTER }`, given instead of `redisUrl` (no private redis-server is started).
   */
  redis?: Record<string, string>;
  /** Use this PostgreSQL database instead of the embedded one. */
  databaseUrl?: string;
  redisPrefix?: string;
  edgePort?: number;
  controlPlanePort?: number;
  edges?: number;
  workers?: number;
  /** Value of the first API key (created at control-plane start). Random when unset. */
  bootstrapKey?: string;
  /**
   * The workers' outbound-guard exceptions (`OUTBOUND_ALLOW`): `127.0.0.1` by default, so the local
   * upstreams of tests and the example stay reachable; `''` refuses every private address as production does.
   */
  outboundAllow?: string;
  /**
   * Extra environment for every service, or per service. With several edges, an `EDGE_ID` given for the edges names
   * the first; the others get `<EDGE_ID>-2`, `-3`… (each edge's reply channel is its own).
   */
  env?: Record<string, string>;
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  /** Also copy service output to this process's stdout/stderr. */
  echo?: boolean;
  /**
   * How each service is started: node with these arguments in this directory. Default: its TypeScript
   * sources in this checkout (`--conditions=@toolplane/source services/<svc>/src/main.ts`); the
   * production-build test starts built closures instead (`dist/main.js` in scripts/build-service.sh's output).
   */
  launch?: (service: ServiceName) => { args: string[]; cwd: string };
  logLevel?: string;
  /**
   * Prometheus metrics on, as the k8s base turns them on: the control plane's `/metrics` on this port, each
   * edge's and then each worker's on the ports after it (`Stack.metricsUrls`); 0: each on a free port. Off when unset.
   */
  metricsPort?: number;
  /** How long a stopped service may take to exit after SIGTERM before it is killed (SIGKILL). Default 10 s. */
  stopGraceMs?: number;
}

export interface Stack {
  /** `StackOptions.dataDir`: PostgreSQL data, sealed secrets (`secrets/`), keys (`keys/`) and logs. */
  dataDir: string;
  controlPlaneUrl: string;
  edgeUrl: string;
  edgeUrls: string[];
  redisUrl: string;
  databaseUrl: string;
  redisPrefix: string;
  bootstrapKey: string;
  processes: ServiceProcess[];
  /** The private redis-server's pid, when the stack started one. */
  redisPid?: number;
  /** Each service's Prometheus endpoint by process name, when `metricsPort` was given. */
  metricsUrls: Record<string, string>;
  /** Starts one more worker process (scale out, restart tests). */
  addWorker(): Promise<ServiceProcess>;
  /** Starts the control plane again after `stopProcess` (same port and database). */
  startControlPlane(): Promise<ServiceProcess>;
  /** Starts edge `i` (0-based) again after `stopProcess` (same port, name and settings): an edge restart. */
  startEdge(i: number): Promise<ServiceProcess>;
  /** Stops one service process gracefully (SIGTERM; SIGKILL after `stopGraceMs`, 10 s by default) and forgets it. */
  stopProcess(p: ServiceProcess): Promise<void>;
  stop(): Promise<void>;
}

/** How often a readiness wait that is still going says so on stderr (with the service's output so far). */
const readyNoteEveryMs = 30_000;

/**
 * Resolves once `url` answers 2xx; rejects at once if the process exits first. No deadline: on a loaded machine a
 * service may take minutes to start, and only its exit says it never will (a wait that must end is bounded by its
 * caller: a test's own timeout). Every `readyNoteEveryMs` without an answer, one line on stderr says who is still
 * starting, so a run that does hang shows where.
 */
async function waitForHttp(url: string, proc: ServiceProcess): Promise<void> {
  const started = Date.now();
  let noteAt = started + readyNoteEveryMs;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null)
      throw new Error(`${proc.name} exited with ${proc.child.exitCode ?? proc.child.signalCode}:\n${proc.output()}`);
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > noteAt) {
      noteAt = Date.now() + readyNoteEveryMs;
      const s = Math.round((Date.now() - started) / 1000);
      process.stderr.write(
        `${proc.name} not ready at ${url} after ${s} s, still waiting; its output:\n${proc.output().slice(-2000)}\n`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Node options every service starts with, before any the caller adds (its `NODE_OPTIONS`, which win): V8's young
 * generation capped at 16 MB semi-spaces (V8 grows them to 64 MB under load), for fewer page faults, less memory and
 * more calls per CPU second (ADR 0031). The Dockerfile sets the same for the images.
 */
export const serviceNodeOptions = '--max-semi-space-size=16';

/**
 * The worker's instead: V8's 64 MB. Its calls outlive a scavenge when the upstream is slow (100 ms, 512 in flight:
 * 12 % less worker CPU per call, none lost at 32 in flight; ADR 0031, amended). Its manifests set the same.
 */
export const workerNodeOptions = '--max-semi-space-size=64';

const nodeOptionsOf = (service: ServiceName) => (service === 'worker' ? workerNodeOptions : serviceNodeOptions);

const fromSources = (service: ServiceName) => ({
  args: ['--conditions=@toolplane/source', join(repoRoot, 'services', service, 'src', 'main.ts')],
  cwd: repoRoot,
});

function spawnService(
  service: ServiceName,
  name: string,
  env: Record<string, string>,
  logFile: WriteStream,
  echo: boolean,
  launch: StackOptions['launch'] = fromSources,
): ServiceProcess {
  const { args, cwd } = launch(service);
  const child = spawn(process.execPath, args, {
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      ...env,
      NODE_OPTIONS: [nodeOptionsOf(service), env.NODE_OPTIONS].filter(Boolean).join(' '),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: string[] = [];
  const onData = (stream: NodeJS.WriteStream) => (d: Buffer) => {
    const s = d.toString();
    chunks.push(s);
    logFile.write(s);
    if (echo)
      stream.write(
        s
          .split('\n')
          .filter(Boolean)
          .map((l) => `[${name}] ${l}\n`)
          .join(''),
      );
  };
  child.stdout?.on('data', onData(process.stdout));
  child.stderr?.on('data', onData(process.stderr));
  // A service never outlives its launcher, however the launcher ends.
  const onExit = () => child.kill('SIGTERM');
  process.once('exit', onExit);
  child.once('exit', () => process.removeListener('exit', onExit));
  return { name, service, child, output: () => chunks.join('') };
}

function stopProcess(p: ServiceProcess, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
    const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
    p.child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    p.child.kill('SIGTERM');
  });
}

/**
 * Starts Toolplane on its embedded defaults: a private redis-server, an embedded PostgreSQL, a
 * sealed local secrets store, and the control plane, edge(s) and worker(s) as separate processes.
 */
/** The stack's Redis (a private redis-server unless one is given) and PostgreSQL (embedded unless one is given). */
async function startStores(opts: StackOptions, dataDir: string, cleanups: (() => Promise<void>)[]) {
  let redis: RedisHandle | undefined;
  if (!opts.redisUrl && !opts.redis) {
    redis = await startRedisServer();
    cleanups.push(() => redis!.stop());
  }
  // Empty with `opts.redis`: the stack's Redis is then not one URL.
  const redisUrl = opts.redisUrl ?? redis?.url ?? '';
  let databaseUrl = opts.databaseUrl;
  if (!databaseUrl) {
    const pg: PostgresHandle = await startEmbeddedPostgres({ dataDir: join(dataDir, 'postgres') });
    cleanups.push(() => pg.stop());
    await pg.createDatabase('toolplane');
    databaseUrl = pg.url('toolplane');
  }
  return { redis, redisUrl, databaseUrl };
}

/** A key pair in the data directory's `keys/` (made once): `<name>.pub.pem` and `<name>.key.pem`. */
function keyPair(dataDir: string, name: string): { publicKeyFile: string; privateKeyFile: string } {
  const keyDir = join(dataDir, 'keys');
  const publicKeyFile = join(keyDir, `${name}.pub.pem`);
  const privateKeyFile = join(keyDir, `${name}.key.pem`);
  if (!existsSync(privateKeyFile)) {
    mkdirSync(keyDir, { recursive: true, mode: 0o700 });
    const pair = generateSealingKeyPair();
    writeFileSync(privateKeyFile, pair.privateKeyPem, { mode: 0o600 });
    writeFileSync(publicKeyFile, pair.publicKeyPem, { mode: 0o644 });
  }
  return { publicKeyFile, privateKeyFile };
}

/**
 * The workers' receipt signing key (ADR 0111: Ed25519, `keys/receipt-signing.key.pem`, workers only) and the key set
 * the control plane publishes (`keys/receipt-keys.json`: its public half, valid from when it was made), made once.
 */
function receiptKeys(dataDir: string): { signingKeyFile: string; keySetFile: string } {
  const keyDir = join(dataDir, 'keys');
  const signingKeyFile = join(keyDir, 'receipt-signing.key.pem');
  const keySetFile = join(keyDir, 'receipt-keys.json');
  if (!existsSync(signingKeyFile)) {
    mkdirSync(keyDir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(signingKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const published = new ReceiptSigner(privateKey).publicKey(new Date().toISOString());
    writeFileSync(keySetFile, `${JSON.stringify({ keys: [published] }, null, 2)}\n`, { mode: 0o644 });
  }
  return { signingKeyFile, keySetFile };
}

/**
 * The worker's sealing key pair (the control plane gets only the public half), the control plane's key pair for
 * record arguments (ADR 0080: the workers get only its public half; `keys/record-arguments.key.pem` opens them), and
 * the receipt keys (ADR 0111).
 */
function sealingKeys(dataDir: string) {
  return {
    ...keyPair(dataDir, 'secrets-seal'),
    recordArguments: keyPair(dataDir, 'record-arguments'),
    receipts: receiptKeys(dataDir),
  };
}

/** What every service of one stack is started from: shared settings, where they log, and the ports chosen. */
interface Launch {
  opts: StackOptions;
  dataDir: string;
  common: Record<string, string>;
  databaseUrl: string;
  bootstrapKey: string;
  secretsDir: string;
  keys: ReturnType<typeof sealingKeys>;
  cpPort: number;
  edgeUrls: string[];
  processes: ServiceProcess[];
  metrics: MetricsPorts;
}

/** The variables every service gets: Redis, its prefix, the log level, the launcher's OpenTelemetry settings. */
function commonEnv(opts: StackOptions, redisUrl: string, redisPrefix: string): Record<string, string> {
  // OpenTelemetry settings of the launcher's environment (e.g. OTEL_EXPORTER_OTLP_ENDPOINT) reach every service.
  const otel = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('OTEL_') && e[1] !== undefined),
  );
  return {
    ...(opts.redis ?? { REDIS_URL: redisUrl }),
    REDIS_PREFIX: redisPrefix,
    LOG_LEVEL: opts.logLevel ?? 'info',
    ...otel,
    ...opts.env,
  };
}

interface MetricsPorts {
  /** The process's METRICS_* variables (none unless `metricsPort` was given), its URL recorded in `urls`. */
  envFor(name: string): Promise<Record<string, string>>;
  urls: Record<string, string>;
}

/** Metrics ports in start order: the control plane, the edges, then each worker as it is added (0: any free port each). */
function metricsPorts(first: number | undefined): MetricsPorts {
  const urls: Record<string, string> = {};
  let next = first;
  return {
    urls,
    async envFor(name): Promise<Record<string, string>> {
      if (next === undefined) return {};
      const port = next === 0 ? await freePort() : next++;
      urls[name] = `http://127.0.0.1:${port}/metrics`;
      return { METRICS_HOST: '127.0.0.1', METRICS_PORT: String(port) };
    },
  };
}

const logTo = (l: Launch, name: string) => createWriteStream(join(l.dataDir, 'logs', `${name}.log`), { flags: 'a' });

/** Starts the control plane (again, after `stopProcess`: same port and database) and waits until it is ready. */
async function startControlPlaneOf(l: Launch, metricsEnv: Record<string, string>): Promise<ServiceProcess> {
  const cp = spawnService(
    'control-plane',
    'control-plane',
    {
      ...l.common,
      PORT: String(l.cpPort),
      DATABASE_URL: l.databaseUrl,
      SECRETS_DIR: l.secretsDir,
      SECRETS_PUBLIC_KEY_FILE: l.keys.publicKeyFile,
      RECORD_ARGUMENTS_PRIVATE_KEY_FILE: l.keys.recordArguments.privateKeyFile,
      RECEIPT_KEYS_FILE: l.keys.receipts.keySetFile,
      PUBLIC_EDGE_URL: l.edgeUrls[0]!,
      PUBLIC_API_URL: `http://127.0.0.1:${l.cpPort}`,
      BOOTSTRAP_API_KEY: l.bootstrapKey,
      ...metricsEnv,
      ...l.opts.serviceEnv?.['control-plane'],
    },
    logTo(l, 'control-plane'),
    l.opts.echo ?? false,
    l.opts.launch,
  );
  cp.url = `http://127.0.0.1:${l.cpPort}`;
  l.processes.push(cp);
  await waitForHttp(`${cp.url}/readyz`, cp);
  return cp;
}

/** Starts worker number `index` and waits until it is ready. */
async function startWorker(l: Launch, index: number): Promise<ServiceProcess> {
  const port = await freePort();
  const name = `worker-${index}`;
  const w = spawnService(
    'worker',
    name,
    {
      ...l.common,
      SECRETS_DIR: l.secretsDir,
      SECRETS_PRIVATE_KEY_FILE: l.keys.privateKeyFile,
      RECORD_ARGUMENTS_PUBLIC_KEY_FILE: l.keys.recordArguments.publicKeyFile,
      RECEIPT_SIGNING_KEY_FILE: l.keys.receipts.signingKeyFile,
      HEALTH_PORT: String(port),
      // Connect links for people's OAuth connections point at the control plane (ADR 0027).
      PUBLIC_API_URL: `http://127.0.0.1:${l.cpPort}`,
      OUTBOUND_ALLOW: l.opts.outboundAllow ?? l.opts.env?.OUTBOUND_ALLOW ?? '127.0.0.1',
      ...(await l.metrics.envFor(name)),
      ...l.opts.serviceEnv?.worker,
    },
    logTo(l, name),
    l.opts.echo ?? false,
    l.opts.launch,
  );
  w.url = `http://127.0.0.1:${port}`;
  l.processes.push(w);
  await waitForHttp(`${w.url}/readyz`, w);
  return w;
}

/** Spawns edge `i` (its name `edge`, or `edge-<i+1>` with several) without waiting for it. */
function spawnEdge(l: Launch, i: number, name: string, metricsEnv: Record<string, string>): ServiceProcess {
  const e = spawnService(
    'edge',
    name,
    // The dashboard (served by the control plane) may call the edge from the browser ("Try a tool"). The
    // workers' public key seals per-request credentials (X-Upstream-Authorization); they open them with the private one.
    {
      ...l.common,
      PORT: new URL(l.edgeUrls[i]!).port,
      ALLOWED_ORIGINS: `http://127.0.0.1:${l.cpPort}`,
      REQUEST_CREDENTIALS_PUBLIC_KEY_FILE: l.keys.publicKeyFile,
      ...metricsEnv,
      ...l.opts.serviceEnv?.edge,
      ...(i > 0 && l.opts.serviceEnv?.edge?.EDGE_ID ? { EDGE_ID: `${l.opts.serviceEnv.edge.EDGE_ID}-${i + 1}` } : {}),
    },
    logTo(l, name),
    l.opts.echo ?? false,
    l.opts.launch,
  );
  e.url = l.edgeUrls[i]!;
  l.processes.push(e);
  return e;
}

/** The edges' URLs: the first on `edgePort` when given, the others on free ports. */
async function edgeUrlsOf(opts: StackOptions): Promise<string[]> {
  const urls: string[] = [];
  for (let i = 0; i < (opts.edges ?? 1); i++)
    urls.push(`http://127.0.0.1:${i === 0 && opts.edgePort !== undefined ? opts.edgePort : await freePort()}`);
  return urls;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const dataDir = resolve(opts.dataDir);
  mkdirSync(join(dataDir, 'logs'), { recursive: true });
  const cleanups: (() => Promise<void>)[] = [];
  const processes: ServiceProcess[] = [];
  try {
    const { redis, redisUrl, databaseUrl } = await startStores(opts, dataDir, cleanups);
    const redisPrefix = opts.redisPrefix ?? 'tp';
    const l: Launch = {
      ...{ opts, dataDir, databaseUrl, processes, secretsDir: join(dataDir, 'secrets') },
      common: commonEnv(opts, redisUrl, redisPrefix),
      bootstrapKey: opts.bootstrapKey ?? `tp_${randomBytes(24).toString('base64url')}`,
      keys: sealingKeys(dataDir),
      edgeUrls: await edgeUrlsOf(opts),
      metrics: metricsPorts(opts.metricsPort),
      cpPort: opts.controlPlanePort ?? (await freePort()),
    };
    const edgeName = (i: number) => (l.edgeUrls.length > 1 ? `edge-${i + 1}` : 'edge');
    const cpMetrics = await l.metrics.envFor('control-plane');
    const edgeMetrics: Record<string, string>[] = [];
    for (let i = 0; i < l.edgeUrls.length; i++) edgeMetrics.push(await l.metrics.envFor(edgeName(i)));
    const startControlPlane = () => startControlPlaneOf(l, cpMetrics);
    await startControlPlane();
    let workerIndex = 0;
    const addWorker = () => startWorker(l, ++workerIndex);
    const edges = l.edgeUrls.map((_, i) => spawnEdge(l, i, edgeName(i), edgeMetrics[i]!));
    const workers = Array.from({ length: opts.workers ?? 1 }, () => addWorker());
    await Promise.all([...edges.map((e) => waitForHttp(`${e.url}/readyz`, e)), ...workers]);

    return {
      dataDir,
      controlPlaneUrl: `http://127.0.0.1:${l.cpPort}`,
      edgeUrl: l.edgeUrls[0]!,
      edgeUrls: l.edgeUrls,
      redisUrl,
      databaseUrl,
      redisPrefix,
      bootstrapKey: l.bootstrapKey,
      processes,
      ...(redis?.process.pid ? { redisPid: redis.process.pid } : {}),
      metricsUrls: l.metrics.urls,
      addWorker,
      startControlPlane,
      async startEdge(i: number) {
        const e = spawnEdge(l, i, edgeName(i), edgeMetrics[i]!);
        await waitForHttp(`${e.url}/readyz`, e);
        return e;
      },
      async stopProcess(p: ServiceProcess) {
        await stopProcess(p, opts.stopGraceMs);
        processes.splice(processes.indexOf(p), 1);
      },
      async stop() {
        await Promise.all(processes.map((p) => stopProcess(p, opts.stopGraceMs)));
        const failures: unknown[] = [];
        for (const c of cleanups.reverse()) await c().catch((err: unknown) => failures.push(err));
        if (failures.length > 0) throw new AggregateError(failures, 'some embedded services did not stop cleanly');
      },
    };
  } catch (err) {
    await Promise.all(processes.map((p) => stopProcess(p)));
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    throw err;
  }
}
