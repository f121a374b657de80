import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { redisStateStore, RuntimeStateKeeper, type RuntimeStateStore, type StateMarker } from './runtime-state.ts';

/** An in-memory Redis as far as the keeper is concerned: `restart()` loses the marker and changes the run id. */
class FakeStore implements RuntimeStateStore {
  id = 'run-1';
  stored: StateMarker | undefined;
  down = false;
  /** Called during publish() to simulate a restart in the middle of it. */
  onPublish: (() => void) | undefined;
  restart(keepData = false): void {
    this.id = `run-${Number(this.id.slice(4)) + 1}`;
    if (!keepData) this.stored = undefined;
  }
  async runId() {
    if (this.down) throw new Error('connection refused');
    return this.id;
  }
  async marker() {
    if (this.down) throw new Error('connection refused');
    return this.stored;
  }
  async writeMarker(m: StateMarker) {
    if (this.down) throw new Error('connection refused');
    this.stored = m;
  }
}

const quiet = { info: () => undefined, warn: () => undefined };

function keeperWith(store: FakeStore) {
  const published: number[] = [];
  const keeper = new RuntimeStateKeeper({
    store,
    publish: async () => {
      published.push(Date.now());
      store.onPublish?.();
    },
    log: quiet,
    intervalMs: 1000,
  });
  return { keeper, published };
}

/** A keeper that published at start, over a Redis that keeps what it is given. */
async function started() {
  const store = new FakeStore();
  const { keeper, published } = keeperWith(store);
  await keeper.restore('start');
  return { store, keeper, published };
}

describe('RuntimeStateKeeper (detection of a Redis that lost the published state)', () => {
  it('publishes at start and then finds the state intact while Redis keeps it', async () => {
    const { store, keeper, published } = await started();
    expect(published).toHaveLength(1);
    expect(store.stored).toMatchObject({ runId: 'run-1' });
    expect(await keeper.check()).toBe('intact');
    expect(await keeper.check()).toBe('intact');
    expect(published).toHaveLength(1);
  });

  it('republishes when the marker is gone (FLUSHALL, or a restart without persistence), with a new epoch', async () => {
    const { store, keeper, published } = await started();
    const first = store.stored!.epoch;
    store.restart();
    expect(await keeper.check()).toBe('restored');
    expect(published).toHaveLength(2);
    expect(store.stored).toMatchObject({ runId: 'run-2' });
    expect(store.stored!.epoch).not.toBe(first);
    store.stored = undefined; // a flush keeps the run id
    expect(await keeper.check()).toBe('restored');
    expect(published).toHaveLength(3);
  });

  it('republishes when Redis restarted with its data (a new run_id): AOF may have lost the last second', async () => {
    const { store, keeper, published } = await started();
    store.restart(true);
    expect(store.stored).toBeDefined();
    expect(await keeper.check()).toBe('restored');
    expect(published).toHaveLength(2);
    expect(store.stored!.runId).toBe('run-2');
  });

  it('writes no marker when Redis restarted during the publication, and publishes again at the next check', async () => {
    const { store, keeper, published } = await started();
    store.restart();
    store.onPublish = () => {
      store.onPublish = undefined;
      store.restart();
    };
    expect(await keeper.check()).toBe('unreachable');
    expect(store.stored).toBeUndefined();
    expect(await keeper.check()).toBe('restored');
    expect(store.stored!.runId).toBe('run-3');
    expect(published).toHaveLength(3);
  });

  it('reports an unreachable Redis without publishing, and restores once it is back', async () => {
    const { store, keeper, published } = await started();
    store.down = true;
    expect(await keeper.check()).toBe('unreachable');
    store.down = false;
    store.restart();
    expect(await keeper.check()).toBe('restored');
    expect(published).toHaveLength(2);
  });

  it('republishes after a failed publication (PostgreSQL ahead of Redis) although Redis kept its data', async () => {
    const { store, keeper, published } = await started();
    keeper.markStale();
    store.down = true;
    expect(await keeper.check()).toBe('unreachable');
    store.down = false;
    expect(await keeper.check()).toBe('restored');
    expect(await keeper.check()).toBe('intact');
    expect(published).toHaveLength(2);
  });

  it('runs one check at a time: concurrent triggers (reconnect + timer) share one publication', async () => {
    const store = new FakeStore();
    const { keeper, published } = keeperWith(store);
    const outcomes = await Promise.all([keeper.check(), keeper.check(), keeper.check()]);
    expect(outcomes).toEqual(['restored', 'restored', 'restored']);
    expect(published).toHaveLength(1);
  });
});

describe('redisStateStore on a real Redis', () => {
  const redisUrl = process.env.TEST_REDIS_URL;
  if (!redisUrl) throw new Error('TEST_REDIS_URL is not set');
  const redis = new Redis(redisUrl);
  afterAll(() => redis.disconnect());

  it("reads Redis's run_id and round-trips the marker under the prefix", async () => {
    const prefix = `trs${randomUUID().slice(0, 8)}`;
    const store = redisStateStore(redis, prefix);
    const runId = await store.runId();
    expect(runId).toMatch(/^[0-9a-f]{40}$/);
    expect(await store.marker()).toBeUndefined();
    await store.writeMarker({ epoch: 'e1', runId, publishedAt: 1 });
    expect(await store.marker()).toEqual({ epoch: 'e1', runId, publishedAt: 1 });
    await redis.set(`${prefix}:runtime-state`, 'not json');
    expect(await store.marker()).toBeUndefined();
    await redis.del(`${prefix}:runtime-state`);
  });
});
