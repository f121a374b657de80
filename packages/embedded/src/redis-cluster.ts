import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binary, cli, infoFields, spawnRedis, waitUntil, type RedisProcess } from './redis-processes.ts';
import { freePort } from './redis-server.ts';
import { scaled } from './time-scale.ts';

/**
 * How long a node may be unreachable before its replica takes over (Redis's default is 15 s; tests want seconds):
 * 1 s on an idle machine, scaled, so a node starved of CPU for a moment on a loaded one is not failed over (its slots
 * then unserved: CLUSTERDOWN) when no test asked for it.
 */
const nodeTimeoutMs = () => scaled(1_000);

export interface ClusterFailover {
  /** The master killed (`redis://127.0.0.1:<port>`). */
  killed: string;
  /** Its replica, now a master. */
  promoted: string;
  /** When the killed process had exited (epoch ms): a command sent after it cannot have reached it. */
  killedAt: number;
  /** From the kill until the replica reported itself master. */
  promotedAfterMs: number;
  /** From the kill until every surviving node reported `cluster_state:ok` again. */
  clusterOkAfterMs: number;
}

export interface RedisClusterHandle {
  /** The masters' URLs at start: what `REDIS_CLUSTER_NODES` lists (any node would do as a seed). */
  seeds: string[];
  /** Every node's port, masters first. */
  ports: number[];
  /** The process id of the node on `port` (for CPU figures). */
  pidOf(port: number): number | undefined;
  /** The port of the master serving `key` now. */
  masterOf(key: string): Promise<number>;
  /** SIGKILLs the master on `port` and resolves once its replica was promoted and the cluster is `ok` again. */
  killMaster(port: number): Promise<ClusterFailover>;
  /**
   * Starts the killed node on `port` again with its data directory: it rejoins as a replica of the master that took
   * its slots (resolved once it is in sync), so that master can be killed in turn.
   */
  rejoin(port: number): Promise<void>;
  /** Stops every node still running and removes the data directories. */
  stop(): Promise<void>;
}

function createCluster(ports: number[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    execFile(
      binary('redis-cli'),
      ['--cluster', 'create', ...nodes, '--cluster-replicas', '1', '--cluster-yes'],
      { timeout: scaled(30_000), encoding: 'utf8' },
      (err, stdout, stderr) =>
        err ? reject(new Error(`redis-cli --cluster create: ${stdout}${stderr}`)) : resolve(stdout),
    );
  });
}

async function clusterOk(port: number, nodes: number): Promise<boolean> {
  const info = infoFields(await cli(port, 'CLUSTER', 'INFO'));
  return info.cluster_state === 'ok' && info.cluster_slots_ok === '16384' && Number(info.cluster_known_nodes) >= nodes;
}

async function role(port: number): Promise<string | undefined> {
  return (await cli(port, 'ROLE')).split('\n')[0]?.trim();
}

/** `CLUSTER NODES` of the node on `port`: id, port, flags and master id of each node. */
async function clusterNodes(port: number): Promise<{ id: string; port: number; flags: string; masterId: string }[]> {
  return (await cli(port, 'CLUSTER', 'NODES'))
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', address = '', flags = '', masterId = ''] = line.split(' ');
      return { id, port: Number(/:(\d+)@/.exec(address)?.[1]), flags, masterId };
    });
}

async function startNodes(root: string, argsOf: Map<number, string[]>): Promise<RedisProcess[]> {
  const nodes: RedisProcess[] = [];
  for (let i = 0; i < 6; i++) {
    const [port, busPort] = [await freePort(), await freePort()];
    const dir = join(root, `node-${i}`);
    mkdirSync(dir, { recursive: true });
    // The bus port is chosen too: the default (port + 10000) may be taken, or past 65535.
    const args = [
      ...['--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1', '--dir', dir],
      ...[
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        String(nodeTimeoutMs()),
      ],
      ...['--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    ];
    argsOf.set(port, args);
    const node = spawnRedis(port, args);
    nodes.push(node);
    await waitUntil(
      `cluster node ${port} to answer (${node.output()})`,
      async () => (await cli(port, 'PING')) === 'PONG',
      10_000,
    );
  }
  return nodes;
}

/**
 * A real Redis Cluster on loopback: three masters with a replica each (`redis-cli --cluster create
 * --cluster-replicas 1`), resolved once every node reports `cluster_state:ok` with all slots covered and every
 * replica is in sync with its master. Data directories live under one temp directory that `stop()` removes.
 */
export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const root = mkdtempSync(join(tmpdir(), 'toolplane-redis-cluster-'));
  const nodes: RedisProcess[] = [];
  const argsOf = new Map<number, string[]>();
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    nodes.push(...(await startNodes(root, argsOf)));
    const ports = nodes.map((n) => n.port);
    await createCluster(ports);
    for (const port of ports) await waitUntil(`cluster_state:ok on ${port}`, () => clusterOk(port, ports.length));
    await everySlotServed(ports);
    for (const port of ports)
      if ((await role(port)) === 'slave')
        await waitUntil(
          `replica ${port} in sync`,
          async () => infoFields(await cli(port, 'INFO', 'replication')).master_link_status === 'up',
        );
    const masters: number[] = [];
    for (const port of ports) if ((await role(port)) === 'master') masters.push(port);
    return {
      seeds: masters.map((p) => `redis://127.0.0.1:${p}`),
      ports: [...masters, ...ports.filter((p) => !masters.includes(p))],
      pidOf: (port) => nodes.find((n) => n.port === port)?.child.pid,
      masterOf: (key) => masterOf(nodes, key),
      killMaster: (port) => failover(nodes, port),
      rejoin: (port) => rejoin(nodes, port, argsOf.get(port)),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function alive(nodes: RedisProcess[]): RedisProcess[] {
  return nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
}

/** Each master's slot ranges as the node on `port` sees them (masters it flags as failing left out). */
async function slotOwners(port: number): Promise<{ port: number; ranges: [number, number][] }[]> {
  const owners: { port: number; ranges: [number, number][] }[] = [];
  // Each CLUSTER NODES line: id, address, flags, master id, ping, pong, epoch, link state, then slot ranges.
  for (const line of (await cli(port, 'CLUSTER', 'NODES')).split('\n')) {
    const fields = line.split(' ');
    if (!fields[2]?.includes('master') || fields[2].includes('fail')) continue;
    const ranges = fields
      .slice(8)
      .filter((r) => !r.startsWith('['))
      .map((r): [number, number] => {
        const [from = NaN, to = from] = r.split('-').map(Number);
        return [from, to];
      });
    owners.push({ port: Number(/:(\d+)@/.exec(fields[1]!)?.[1]), ranges });
  }
  return owners;
}

/** The slot map the node on `port` serves, as one comparable line (empty unless all 16384 slots have a master). */
async function slotMap(port: number): Promise<string> {
  const owners = await slotOwners(port);
  const covered = owners.flatMap((o) => o.ranges).reduce((n, [from, to]) => n + to - from + 1, 0);
  if (covered !== 16_384) return '';
  return owners
    .filter((o) => o.ranges.length > 0)
    .map((o) => `${o.port}:${o.ranges.map((r) => r.join('-')).join(',')}`)
    .sort()
    .join(' ');
}

/**
 * Resolves once every node on `ports` reports `cluster_state:ok` with all 16384 slots served and all of them name
 * the same master for every slot: a client that asks any node for the slot map (CLUSTER SLOTS) then finds every slot
 * served, whichever node it asked first.
 */
async function everySlotServed(ports: number[]): Promise<void> {
  await waitUntil(`every slot served, the same map on nodes ${ports.join(', ')}`, async () => {
    for (const port of ports) if (!(await clusterOk(port, 0))) return false;
    const maps = await Promise.all(ports.map((port) => slotMap(port)));
    return maps[0] !== '' && maps.every((m) => m === maps[0]);
  });
}

async function masterOf(nodes: RedisProcess[], key: string): Promise<number> {
  const port = alive(nodes)[0]!.port;
  const slot = Number(await cli(port, 'CLUSTER', 'KEYSLOT', key));
  // A node that just rejoined, or gossip after a failover, may not name the slot's master yet: asked until it does.
  return waitUntil(`a master serving slot ${slot} (key ${key})`, async () => {
    for (const owner of await slotOwners(alive(nodes)[0]!.port))
      if (owner.ranges.some(([from, to]) => slot >= from && slot <= to)) return owner.port;
    return undefined;
  });
}

async function rejoin(nodes: RedisProcess[], port: number, args: string[] | undefined): Promise<void> {
  const old = nodes.find((n) => n.port === port);
  if (!old || !args || alive(nodes).includes(old)) throw new Error(`no killed node on ${port}`);
  const node = spawnRedis(port, args);
  nodes[nodes.indexOf(old)] = node;
  await waitUntil(`node ${port} to rejoin as a replica (${node.output()})`, async () => {
    if ((await role(port).catch(() => undefined)) !== 'slave') return false;
    return infoFields(await cli(port, 'INFO', 'replication')).master_link_status === 'up';
  });
  await everySlotServed(alive(nodes).map((n) => n.port));
}

async function failover(nodes: RedisProcess[], port: number): Promise<ClusterFailover> {
  const victim = nodes.find((n) => n.port === port);
  if (!victim || !alive(nodes).includes(victim)) throw new Error(`no running node on ${port}`);
  const id = (await cli(port, 'CLUSTER', 'MYID')).trim();
  const replica = (await clusterNodes(port)).find((n) => n.masterId === id && n.flags.includes('slave'));
  if (!replica) throw new Error(`the master on ${port} has no replica`);
  await victim.kill();
  const killedAt = Date.now();
  await waitUntil(`replica ${replica.port} promoted`, async () => (await role(replica.port)) === 'master');
  const promotedAfterMs = Date.now() - killedAt;
  const survivors = alive(nodes).map((n) => n.port);
  for (const p of survivors) await waitUntil(`cluster_state:ok on ${p} after the failover`, () => clusterOk(p, 0));
  await everySlotServed(survivors);
  return {
    killed: `redis://127.0.0.1:${port}`,
    promoted: `redis://127.0.0.1:${replica.port}`,
    killedAt,
    promotedAfterMs,
    clusterOkAfterMs: Date.now() - killedAt,
  };
}
