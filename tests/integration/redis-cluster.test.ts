import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  freePort,
  scaled,
  startRedisCluster,
  startRedisSentinel,
  startRedisServer,
  type ClusterFailover,
  type RedisClusterHandle,
  type RedisHandle,
  type RedisSentinelHandle,
  type SentinelFailover,
} from '@toolplane/embedded';
import {
  connectRedis,
  createRedisClient,
  RedisConfigError,
  RedisEnv,
  type RedisClient,
  type RedisConnection,
} from '@toolplane/redis';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { sessionScopes } from '../../packages/contracts/src/index.ts';
import {
  addToSession,
  readSession,
  checkQueueLayout,
  QueueLayoutError,
  queueShardPrefixes,
  ReplyingConsumer,
  RequestReplyClient,
  TaskRecords,
} from '../../packages/queue/src/index.ts';
import { ConnectLinks } from '../../services/worker/src/connect-links.ts';
import { QuotaMeter } from '../../services/edge/src/governance/quotas.ts';
import { quotaUsage } from '../../services/control-plane/src/resources/usage/counters.ts';

/**
 * The Redis connection factory (ADR 0043) against real processes: a Redis Cluster of three masters with a replica
 * each, a Sentinel setup (master, replica, three sentinels) and one plain Redis. A master killed with SIGKILL: the
 * client reaches the promoted replica on its own; the time without service is measured and printed, not asserted.
 * Each wrong configuration ends startup with a RedisConfigError naming the variable to fix.
 */

let cluster: RedisClusterHandle;
let sentinel: RedisSentinelHandle;
let single: RedisHandle;
const clients: RedisClient[] = [];
const errors: string[] = [];

beforeAll(async () => {
  [cluster, sentinel, single] = await Promise.all([startRedisCluster(), startRedisSentinel(), startRedisServer()]);
}, 60_000);

afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

afterAll(async () => {
  await Promise.all([cluster?.stop(), sentinel?.stop(), single?.stop()]);
});

function connection(values: Record<string, string>): RedisConnection {
  return RedisEnv.parse({ REDIS_CONNECT_TIMEOUT_MS: '3000', ...values });
}

async function connected(values: Record<string, string>): Promise<RedisClient> {
  const client = await connectRedis(connection(values), { connectionName: 'redis-cluster-test' });
  // As a service does: errors while it reconnects (a failover) are reported, not thrown.
  client.on('error', (err: Error) => errors.push(err.message));
  clients.push(client);
  return client;
}

/** The startup error of `values` and how long it took to come. */
async function refusal(values: Record<string, string>): Promise<{ message: string; ms: number }> {
  const started = Date.now();
  const err = await connectRedis(connection(values)).then(
    (c) => {
      c.disconnect();
      return new Error('connected');
    },
    (e: Error) => e,
  );
  expect(err).toBeInstanceOf(RedisConfigError);
  return { message: err.message, ms: Date.now() - started };
}

/**
 * INCRs `key` back to back while `kill` (which resolves with when the killed process had exited) runs, until a command sent
 * after the failover succeeded. The time without service: from the last success before the kill to the first
 * success of a command sent after it. `lost`: acknowledged INCRs the counter does not hold (negative: applied
 * more often than acknowledged, a retried command).
 */
async function throughFailover<T extends ClusterFailover | SentinelFailover>(
  client: RedisClient,
  key: string,
  kill: () => Promise<T>,
) {
  await client.set(key, '0');
  const samples: { sentAt: number; doneAt: number; ok: boolean }[] = [];
  let until = Number.POSITIVE_INFINITY;
  const loop = (async () => {
    for (;;) {
      const sentAt = Date.now();
      const ok = await client.incr(key).then(
        () => true,
        () => false,
      );
      samples.push({ sentAt, doneAt: Date.now(), ok });
      if (ok && sentAt > until) return;
    }
  })();
  const failover = await kill();
  until = Date.now();
  await loop;
  const ok = samples.filter((x) => x.ok);
  const lastBefore = Math.max(...ok.filter((x) => x.doneAt <= failover.killedAt).map((x) => x.doneAt));
  const firstAfter = Math.min(...ok.filter((x) => x.sentAt >= failover.killedAt).map((x) => x.doneAt));
  const value = Number(await client.get(key));
  return {
    failover,
    withoutServiceMs: firstAfter - lastBefore,
    acknowledged: ok.length,
    failedCommands: samples.length - ok.length,
    lost: ok.length - value,
    value,
  };
}

describe('the connection factory on a Redis Cluster (3 masters, 3 replicas)', () => {
  it('gets the cluster with every node serving all 16384 slots, each naming the same masters, node timeout scaled', async () => {
    // What a client that asks any node for the slot map finds; the node timeout is 1 s scaled (a loaded machine must
    // not fail over a node that was only starved of CPU for a moment).
    const views = await Promise.all(
      cluster.ports.map(async (port) => {
        const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
        try {
          await node.connect();
          const info = String(await node.call('CLUSTER', 'INFO'));
          const [, timeout] = (await node.config('GET', 'cluster-node-timeout')) as [string, string];
          const slots = (await node.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
          return {
            state: /cluster_state:(\w+)/.exec(info)?.[1],
            slotsOk: Number(/cluster_slots_ok:(\d+)/.exec(info)?.[1]),
            nodeTimeoutMs: Number(timeout),
            map: slots.map(([from, to, [, master]]) => `${from}-${to}@${master}`).sort(),
            covered: slots.reduce((n, [from, to]) => n + to - from + 1, 0),
          };
        } finally {
          node.disconnect();
        }
      }),
    );
    for (const view of views)
      expect(view).toEqual({
        state: 'ok',
        slotsOk: 16_384,
        nodeTimeoutMs: scaled(1_000),
        map: views[0]!.map,
        covered: 16_384,
      });
  });

  it('connects through the seeds and runs commands in every slot; a hash tag keeps a MULTI in one slot', async () => {
    const client = await connected({ REDIS_CLUSTER_NODES: cluster.seeds.join(',') });
    expect(client.isCluster).toBe(true);
    for (let i = 0; i < 30; i++) await client.set(`key-${i}`, String(i));
    expect(await Promise.all(Array.from({ length: 30 }, (_, i) => client.get(`key-${i}`)))).toEqual(
      Array.from({ length: 30 }, (_, i) => String(i)),
    );
    const masters = new Set(await Promise.all(Array.from({ length: 30 }, (_, i) => cluster.masterOf(`key-${i}`))));
    expect(masters.size).toBe(3);
    // Keys of one group share a slot through their `{…}` tag; keys of different slots in one command are refused.
    const done = await client.multi().set('{task:1}:record', 'r').zadd('{task:1}:list', 1, '1').exec();
    expect(done?.map(([err]) => err)).toEqual([null, null]);
    await expect(client.mget('key-0', 'key-1', 'key-2')).rejects.toThrow(/CROSSSLOT/);
  });

  it('spreads six queue shards two per master, answers calls on every shard, and lets workers read a subset', async () => {
    const client = await connected({ REDIS_CLUSTER_NODES: cluster.seeds.join(',') });
    const prefix = `shards-${Date.now()}`;
    const shards = queueShardPrefixes(client, prefix, 6);
    expect(queueShardPrefixes(client, prefix, 6)).toEqual(shards); // every service computes the same names
    expect(queueShardPrefixes(client, prefix, 1)).toEqual([`{${prefix}}`]); // one shard: the keys as before
    const perMaster = new Map<number, number>();
    for (const shard of shards) {
      const master = await cluster.masterOf(`${shard}:tool-invocations:wait`);
      perMaster.set(master, (perMaster.get(master) ?? 0) + 1);
    }
    expect([...perMaster.values()]).toEqual([2, 2, 2]);

    const Job = z.object({ n: z.number(), replyTo: z.string(), deadlineAt: z.number() });
    const rpc = new RequestReplyClient<z.infer<typeof Job>, { n: number; by: string }>({
      ...{ redis: client, prefix, clientId: 'edge-1', queueName: 'tool-invocations', jobName: 'double' },
      ...{ reply: z.object({ n: z.number(), by: z.string() }), idOf: (r) => `call-${r.n}`, shards },
    });
    const answered = Array.from({ length: 60 }, (_, n) =>
      rpc.request(`call-${n}`, { n, replyTo: 'edge-1', deadlineAt: Date.now() + 20_000 }),
    );
    // No worker yet: the calls wait, ten on each shard (by call, in turn).
    const waiting = async () => Promise.all(shards.map((p) => client.llen(`${p}:tool-invocations:wait`)));
    for (let i = 0; i < 100 && (await waiting()).reduce((a, b) => a + b) < 60; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await waiting()).toEqual([10, 10, 10, 10, 10, 10]);
    // Two workers, each reading three shards, answer every call.
    const consumers = ['a', 'b'].map(
      (by, w) =>
        new ReplyingConsumer({
          ...{ redis: client, prefix, queueName: 'tool-invocations', concurrency: 8, fetchers: 3, job: Job },
          ...{ handle: async (job: z.infer<typeof Job>) => ({ n: job.n, by }), shards: shards.slice(w * 3, w * 3 + 3) },
        }),
    );
    try {
      for (const c of consumers) c.start();
      const replies = await Promise.all(answered);
      expect(replies.map((r) => r.n)).toEqual(Array.from({ length: 60 }, (_, n) => n));
      expect(replies.filter((r) => r.by === 'a').length).toBe(30);
      expect(await consumers[0]!.jobCounts()).toEqual({ waiting: 0, active: 0, delayed: 0 });
    } finally {
      await Promise.all([...consumers.map((c) => c.close()), rpc.close()]);
    }
  });

  it('records the shard count of the first service and refuses another one', async () => {
    const client = await connected({ REDIS_CLUSTER_NODES: cluster.seeds.join(',') });
    const prefix = `layout-${Date.now()}`;
    await checkQueueLayout(client, prefix, 6);
    await checkQueueLayout(client, prefix, 6);
    const refused = await checkQueueLayout(client, prefix, 3).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(QueueLayoutError);
    expect((refused as Error).message).toMatch(
      /REDIS_QUEUE_SHARDS is 3 here but this deployment's tool-call queue has 6/,
    );
  });

  it('keeps task records and connect links (record and index in different slots) consistent in a cluster', async () => {
    const client = await connected({ REDIS_CLUSTER_NODES: cluster.seeds.join(',') });
    const records = new TaskRecords(client, 'cluster-tasks');
    const now = Date.now();
    const ids = Array.from({ length: 12 }, (_, i) => `task-${i}-${now}`);
    for (const [i, taskId] of ids.entries())
      await records.create({
        ...{ taskId, scope: 'key-a|srv|', status: 'working', createdAt: now + i, lastUpdatedAt: now + i },
        ...{ ttlMs: 60_000, deadlineAt: now + 30_000, invocationId: taskId, tool: 'get_order' },
      });
    // The records spread over the masters; the list still reads them all, newest first.
    const masters = new Set(await Promise.all(ids.map((id) => cluster.masterOf(`cluster-tasks:task:${id}`))));
    expect(masters.size).toBeGreaterThan(1);
    const { tasks, more } = await records.list('key-a|srv|', 0, 20);
    expect([tasks.map((t) => t.taskId), more]).toEqual([[...ids].reverse(), false]);
    expect(await records.settle(ids[0]!, ids[0]!, { status: 'completed', result: { content: [] } })).toBe('settled');
    expect(await records.get(ids[0]!, 'key-a|srv|')).toMatchObject({ status: 'completed' });
    // An anonymous caller's task: its own scope, read by its id, in no list.
    const lone = { taskId: `task-anon-${now}`, scope: `anonymous|srv||task-anon-${now}`, status: 'working' as const };
    await records.create(
      {
        ...lone,
        createdAt: now,
        lastUpdatedAt: now,
        ttlMs: 60_000,
        deadlineAt: now,
        invocationId: lone.taskId,
        tool: 't',
      },
      { listed: false },
    );
    expect(await records.get(lone.taskId, lone.scope)).toMatchObject(lone);
    expect((await records.list(lone.scope, 0, 10)).tasks).toEqual([]);

    const links = new ConnectLinks(client, 'cluster-links', 'https://cp.example');
    const connection = 'people/ws-1/user-1/crm';
    const url = await links.create({
      ...{ v: 1, workspaceId: 'ws-1', userId: 'user-1', username: 'ada', serverId: 'srv', catalogVersion: 1 },
      ...{ tool: 'crm_read', connection, authorizeUrl: 'https://idp.example/authorize', clientId: 'c', scopes: [] },
    });
    expect(url).toMatch(/^https:\/\/cp\.example\/connect\//);
    const [linkKey] = await client.smembers(`cluster-links:oauth-connect-pending:${connection}`);
    expect(await client.exists(linkKey!)).toBe(1);
  });

  it('reads a per-person quota’s counters on the master holding its workspace’s slot, as the edges charge them', async () => {
    const client = await connected({ REDIS_CLUSTER_NODES: cluster.seeds.join(',') });
    const meter = new QuotaMeter(client, 'cluster-quotas', 60);
    const rule = { id: 'q1', name: 'q1', match: {}, counts: 'calls' as const, limit: 5, window: 'hour' as const };
    const perPerson = { ...rule, per: 'person' as const, enforce: true };
    // Workspaces whose counters sit on different masters; each reads only its own.
    const workspaces = Array.from({ length: 6 }, (_, i) => `ws-${i}`);
    const masters = new Set(await Promise.all(workspaces.map((w) => cluster.masterOf(`x:{q:${w}}`))));
    expect(masters.size).toBeGreaterThan(1);
    for (const workspaceId of workspaces)
      for (const [person, calls] of [
        ['alice', 3],
        ['bob', 1],
        [undefined, 2],
      ] as const)
        for (let i = 0; i < calls; i++)
          await meter.charge({ workspaceId, rules: [perPerson], caller: { person } }, [perPerson], 1);
    for (const workspaceId of workspaces) {
      const q = { ...rule, workspaceId, per: 'person', timeZone: null };
      const usage = await quotaUsage(client, 'cluster-quotas', q);
      expect(usage.counters).toEqual([
        { value: 'alice', used: 3, left: 2 },
        { value: null, used: 2, left: 3 },
        { value: 'bob', used: 1, left: 4 },
      ]);
      expect(usage.truncated).toBe(false);
    }
  });

  it('keeps a session’s labels (ADR 0078): one script writes a key’s and a person’s scopes, any edge reads them', async () => {
    const client = await connected({ REDIS_CLUSTER_NODES: cluster.seeds.join(',') });
    // Workspaces whose sessions sit on different masters: each call's scopes share their workspace's slot.
    const workspaces = Array.from({ length: 6 }, (_, i) => `ws-${i}`);
    const masters = new Set(await Promise.all(workspaces.map((w) => cluster.masterOf(`x:{ss:${w}}`))));
    expect(masters.size).toBeGreaterThan(1);
    const scopes = sessionScopes({ keyId: 'k1', userId: 'u1' }, 'srv');
    for (const workspaceId of workspaces) {
      const where = { prefix: 'cluster-sessions', workspaceId, session: { scopes, ttlSeconds: 600 } };
      const entry = { tool: 'get_issue', serverId: 'srv', invocationId: `inv-${workspaceId}`, at: Date.now() };
      await addToSession(client, where, {
        ...entry,
        labels: [{ label: 'untrusted', source: 'declared' }],
        countCall: true,
      });
    }
    for (const workspaceId of workspaces)
      for (const scope of scopes) {
        const view = await readSession(client, { prefix: 'cluster-sessions', workspaceId, scopes: [scope] });
        expect(view.labels.get('untrusted')).toMatchObject({ tool: 'get_issue', invocationId: `inv-${workspaceId}` });
        expect(view.calls).toEqual([expect.objectContaining({ tool: 'get_issue', count: 1 })]);
      }
  });

  it('refuses a cluster node given as REDIS_URL, naming REDIS_CLUSTER_NODES', async () => {
    const { message, ms } = await refusal({ REDIS_URL: cluster.seeds[1]! });
    console.log(`cluster node as REDIS_URL refused after ${ms} ms: ${message}`);
    expect(message).toMatch(
      /^REDIS_URL: 127\.0\.0\.1:\d+ does not fit: it is a Redis Cluster node .*REDIS_CLUSTER_NODES/,
    );
  });

  it('refuses a single Redis listed as a cluster seed, naming REDIS_URL', async () => {
    const { message } = await refusal({ REDIS_CLUSTER_NODES: single.url });
    expect(message).toMatch(
      /^REDIS_CLUSTER_NODES: .* not a cluster node \(cluster_enabled:0\): one Redis goes in REDIS_URL/,
    );
  });

  it('refuses seeds that do not answer within REDIS_CONNECT_TIMEOUT_MS', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const { message, ms } = await refusal({ REDIS_CLUSTER_NODES: `redis://127.0.0.1:${a},redis://127.0.0.1:${b}` });
    console.log(`unreachable cluster seeds refused after ${ms} ms: ${message}`);
    expect(message).toMatch(/^REDIS_CLUSTER_NODES: nothing answered within 3000 ms: 127\.0\.0\.1:\d+ \(.*ECONNREFUSED/);
  });

  it('reaches the promoted replica after its master is killed', async () => {
    const client = await connected({ REDIS_CLUSTER_NODES: cluster.seeds.join(',') });
    const key = 'failover-probe';
    const master = await cluster.masterOf(key);
    const r = await throughFailover(client, key, () => cluster.killMaster(master));
    console.log('cluster failover (kill -9 of a master):', JSON.stringify({ ...r, clientErrors: errors.splice(0) }));
    expect(await cluster.masterOf(key)).not.toBe(master);
    expect(await client.incr(key)).toBe(r.value + 1);
  });
});

describe('the connection factory on Sentinel (master, replica, 3 sentinels)', () => {
  const sentinels = () => sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(',');

  it('connects to the master the sentinels name and runs commands', async () => {
    const client = await connected({ REDIS_SENTINELS: sentinels(), REDIS_SENTINEL_MASTER: sentinel.masterName });
    expect(client.isCluster).toBe(false);
    await client.set('greeting', 'hello');
    expect(await client.get('greeting')).toBe('hello');
    expect(await client.info('server')).toContain(`tcp_port:${new URL(sentinel.master).port}`);
  });

  it('reaches the promoted replica after the master is killed', async () => {
    const client = await connected({ REDIS_SENTINELS: sentinels(), REDIS_SENTINEL_MASTER: sentinel.masterName });
    const r = await throughFailover(client, 'failover-probe', () => sentinel.killMaster());
    console.log('sentinel failover (kill -9 of the master):', JSON.stringify({ ...r, clientErrors: errors.splice(0) }));
    const info = await client.info();
    expect(info).toContain('role:master');
    expect(info).toContain(`tcp_port:${new URL(sentinel.replica).port}`);
  });

  it('refuses a master name no sentinel monitors, naming the ones they do', async () => {
    const { message, ms } = await refusal({ REDIS_SENTINELS: sentinels(), REDIS_SENTINEL_MASTER: 'nope' });
    console.log(`unknown Sentinel master refused after ${ms} ms: ${message}`);
    expect(message).toBe(
      `REDIS_SENTINEL_MASTER: no sentinel monitors a master named "nope" (they monitor: ${sentinel.masterName})`,
    );
  });

  it('refuses a sentinel given as REDIS_URL and a data node listed as a sentinel', async () => {
    const s = sentinel.sentinels[0]!;
    expect((await refusal({ REDIS_URL: `redis://${s.host}:${s.port}` })).message).toMatch(
      /it is a Sentinel: set REDIS_SENTINELS/,
    );
    const { message } = await refusal({
      REDIS_SENTINELS: new URL(single.url).host,
      REDIS_SENTINEL_MASTER: 'toolplane',
    });
    expect(message).toMatch(/^REDIS_SENTINELS: 127\.0\.0\.1:\d+ is not a sentinel/);
  });
});

describe('the connection factory on one Redis (the default form)', () => {
  it('builds the same client as today from REDIS_URL', async () => {
    const client = createRedisClient(connection({ REDIS_URL: single.url }));
    clients.push(client);
    expect(client.isCluster).toBe(false);
    expect(await client.ping()).toBe('PONG');
    expect(await (await connected({ REDIS_URL: single.url })).ping()).toBe('PONG');
  });
});
