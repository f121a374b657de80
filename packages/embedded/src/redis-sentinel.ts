import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, infoFields, spawnRedis, waitUntil, type RedisProcess } from './redis-processes.ts';
import { freePort } from './redis-server.ts';
import { scaled } from './time-scale.ts';

const masterName = 'toolplane';

export interface SentinelFailover {
  /** The master killed (`redis://127.0.0.1:<port>`). */
  killed: string;
  /** The replica the sentinels promoted. */
  promoted: string;
  /** When the killed process had exited (epoch ms): a command sent after it cannot have reached it. */
  killedAt: number;
  /** From the kill until every sentinel named the promoted replica as the master. */
  switchedAfterMs: number;
}

export interface RedisSentinelHandle {
  /** What `REDIS_SENTINEL_MASTER` names. */
  masterName: string;
  /** The sentinels, as `REDIS_SENTINELS` lists them. */
  sentinels: { host: string; port: number }[];
  /** The master's and the replica's URLs at start. */
  master: string;
  replica: string;
  /** SIGKILLs the current master and resolves once every sentinel names its replica as the master. */
  killMaster(): Promise<SentinelFailover>;
  /** Stops every process still running and removes the data directories. */
  stop(): Promise<void>;
}

/** `SENTINEL MASTER <name>` on a sentinel as a record (redis-cli prints the flat field/value list one per line). */
async function sentinelMaster(port: number): Promise<Record<string, string>> {
  const lines = (await cli(port, 'SENTINEL', 'MASTER', masterName)).split('\n');
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) fields[lines[i]!.trim()] = lines[i + 1]!.trim();
  return fields;
}

async function masterAddress(port: number): Promise<number | undefined> {
  const [, p] = (await cli(port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)).split('\n');
  return p ? Number(p) : undefined;
}

function startSentinel(root: string, i: number, port: number, masterPort: number): RedisProcess {
  const dir = join(root, `sentinel-${i}`);
  mkdirSync(dir, { recursive: true });
  // Sentinel rewrites its configuration file (what it learnt of replicas and other sentinels): one each.
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
      // A master unreachable for 1 s is down (the default, 30 s, is for networks, not tests); one failover per 5 s.
      // Both scaled: a master starved of CPU for a moment on a loaded machine is not failed over unasked.
      `sentinel down-after-milliseconds ${masterName} ${scaled(1_000)}`,
      `sentinel failover-timeout ${masterName} ${scaled(5_000)}`,
      'loglevel warning',
      '',
    ].join('\n'),
  );
  return spawnRedis(port, [conf, '--sentinel']);
}

async function startData(root: string, name: string, extra: string[] = []): Promise<RedisProcess> {
  const port = await freePort();
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const node = spawnRedis(port, [
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    ...['--loglevel', 'warning', ...extra],
  ]);
  await waitUntil(
    `redis ${name} on ${port} to answer (${node.output()})`,
    async () => (await cli(port, 'PING')) === 'PONG',
    10_000,
  );
  return node;
}

/**
 * A real Sentinel setup on loopback: a master, one replica and three sentinels (quorum 2) monitoring it as
 * `toolplane`. Resolves once the replica is in sync and every sentinel knows the replica and the two other
 * sentinels (what a failover needs). Data directories live under one temp directory that `stop()` removes.
 */
export async function startRedisSentinel(): Promise<RedisSentinelHandle> {
  const root = mkdtempSync(join(tmpdir(), 'toolplane-redis-sentinel-'));
  const processes: RedisProcess[] = [];
  const stop = async () => {
    await Promise.all(processes.map((p) => p.stop()));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const master = await startData(root, 'master');
    processes.push(master);
    const replica = await startData(root, 'replica', ['--replicaof', '127.0.0.1', String(master.port)]);
    processes.push(replica);
    await waitUntil(
      'the replica in sync',
      async () => infoFields(await cli(replica.port, 'INFO', 'replication')).master_link_status === 'up',
    );
    const sentinels: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) sentinels.push(startSentinel(root, i, await freePort(), master.port));
    processes.push(...sentinels);
    for (const s of sentinels)
      await waitUntil(`sentinel ${s.port} to know the replica and the other sentinels`, async () => {
        const m = await sentinelMaster(s.port);
        return m['num-slaves'] === '1' && m['num-other-sentinels'] === '2' && m.flags === 'master';
      });
    return {
      masterName,
      sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
      master: `redis://127.0.0.1:${master.port}`,
      replica: `redis://127.0.0.1:${replica.port}`,
      killMaster: () => failover(processes, sentinels),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function failover(processes: RedisProcess[], sentinels: RedisProcess[]): Promise<SentinelFailover> {
  const masterPort = await masterAddress(sentinels[0]!.port);
  const victim = processes.find(
    (p) => p.port === masterPort && p.child.exitCode === null && p.child.signalCode === null,
  );
  if (!victim) throw new Error(`the master (port ${masterPort}) is not running`);
  await victim.kill();
  const killedAt = Date.now();
  let promoted = 0;
  for (const s of sentinels)
    promoted = await waitUntil(`sentinel ${s.port} to name a new master`, async () => {
      const p = await masterAddress(s.port);
      return p !== undefined && p !== masterPort && p;
    });
  await waitUntil(`${promoted} to act as master`, async () => (await cli(promoted, 'ROLE')).startsWith('master'));
  return {
    killed: `redis://127.0.0.1:${masterPort}`,
    promoted: `redis://127.0.0.1:${promoted}`,
    killedAt,
    switchedAfterMs: Date.now() - killedAt,
  };
}
