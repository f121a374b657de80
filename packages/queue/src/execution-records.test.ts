import { afterAll, describe, expect, it } from '@jest/globals';
import type { ExecutionRecord } from '@toolplane/contracts';
import { startRedisServer, type RedisHandle } from '@toolplane/embedded';
import { Redis } from 'ioredis';
import { ExecutionRecordSink, ExecutionRecordStream } from './execution-records.ts';

/**
 * The record sink across a Redis outage, on a redis-server of this test (stopped and started again on
 * its port), with the edge's client settings (commands fail after one retry instead of waiting).
 */

const handles: RedisHandle[] = [];
const clients: Redis[] = [];
afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const h of handles) await h.stop();
});

const record = (n: number): ExecutionRecord => ({
  v: 1,
  invocationId: `inv-${n}`,
  workspaceId: 'ws',
  serverId: 'srv',
  catalogVersion: 1,
  tool: 'get_ticket',
  caller: {},
  startedAt: new Date(0).toISOString(),
  durationMs: 1,
  outcome: 'success',
  steps: [],
});

async function stored(redis: Redis, key: string): Promise<string[]> {
  const entries = await redis.xrange(key, '-', '+');
  return entries.flatMap(([, fields]) => (JSON.parse(fields[1]!) as ExecutionRecord[]).map((r) => r.invocationId));
}

/** Polls until `probe` holds (a condition this test causes: Redis coming back and the retry landing). */
async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`gave up waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function setup(opts: { maxBuffered?: number } = {}) {
  const server = await startRedisServer();
  handles.push(server);
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  redis.on('error', () => undefined);
  const reader = new Redis(server.url, { retryStrategy: () => 100 });
  reader.on('error', () => undefined);
  clients.push(redis, reader);
  const errors: unknown[] = [];
  const dropped: number[] = [];
  const sink = new ExecutionRecordSink(redis, 'trec', {
    maxLen: 1000,
    flushMs: 5,
    retryMs: 100,
    onError: (err) => errors.push(err),
    onDropped: (n) => dropped.push(n),
    ...opts,
  });
  return { server, sink, reader, errors, dropped, key: 'trec:execution-records' };
}

describe('ExecutionRecordSink across a Redis outage', () => {
  it('keeps the records Redis refused and writes them, in order, once it is back; one error reported', async () => {
    const { server, sink, reader, errors, key } = await setup();
    sink.add(record(1));
    await sink.flush();
    expect(await stored(reader, key)).toEqual(['inv-1']);

    await server.stop();
    for (let n = 2; n <= 6; n++) sink.add(record(n));
    await sink.flush(); // refused: kept
    await until('the write was refused', async () => errors.length > 0);
    expect(sink.buffered).toBe(5);
    sink.add(record(7));

    const again = await startRedisServer({ port: server.port }); // empty: the first record is gone with it
    handles.push(again);
    await until('the kept records are in Redis', async () => (await stored(reader, key)).length === 6);
    expect(await stored(reader, key)).toEqual(['inv-2', 'inv-3', 'inv-4', 'inv-5', 'inv-6', 'inv-7']);
    expect(sink.buffered).toBe(0);
    expect(errors).toHaveLength(1); // the outage, once (retries are not reported again)
    expect(sink.close()).toBe(0);
  });

  it('keeps at most maxBuffered records while Redis is away, dropping the oldest and saying how many', async () => {
    const { server, sink, reader, dropped, key } = await setup({ maxBuffered: 3 });
    await server.stop();
    for (let n = 1; n <= 5; n++) sink.add(record(n));
    expect(dropped.reduce((a, b) => a + b, 0)).toBe(2);
    expect(sink.buffered).toBe(3);
    const again = await startRedisServer({ port: server.port });
    handles.push(again);
    await until('the kept records are in Redis', async () => (await stored(reader, key)).length === 3);
    expect(await stored(reader, key)).toEqual(['inv-3', 'inv-4', 'inv-5']);
  });
});

describe('ExecutionRecordStream with a record the store refuses', () => {
  it('sets that record aside and stores the others, in the same batch and after it', async () => {
    const server = await startRedisServer();
    handles.push(server);
    const redis = new Redis(server.url);
    clients.push(redis);
    const prefix = 'poison';
    const sink = new ExecutionRecordSink(redis, prefix, { maxLen: 1000, flushMs: 5, onError: () => undefined });
    const storedIds: string[] = [];
    const dropped: string[] = [];
    const refused = Object.assign(new Error('invalid input syntax for type uuid'), { code: '22P02' });
    const stream = new ExecutionRecordStream({
      redis,
      prefix,
      consumer: 'c1',
      store: (batch) => {
        if (batch.some((r) => r.invocationId === 'inv-2')) return Promise.reject(refused);
        storedIds.push(...batch.map((r) => r.invocationId));
        return Promise.resolve();
      },
      onError: () => undefined,
      isPermanent: (err) => (err as { code?: string }).code === '22P02',
      onDropped: (r) => void dropped.push(r.invocationId),
      blockMs: 50,
    });
    await stream.start();
    try {
      for (const n of [1, 2, 3]) sink.add(record(n));
      await sink.flush();
      sink.add(record(4));
      await sink.flush();
      await until('records 1, 3 and 4 stored', () => Promise.resolve(storedIds.includes('inv-4')));
      expect(storedIds.sort()).toEqual(['inv-1', 'inv-3', 'inv-4']);
      expect(dropped).toEqual(['inv-2']);
    } finally {
      await stream.stop();
      sink.close();
    }
  });
});

describe('ExecutionRecordStream storing entries as they came', () => {
  it('gives the entries unparsed to storeRaw; a batch it refuses for its content goes to store parsed', async () => {
    const server = await startRedisServer();
    handles.push(server);
    const redis = new Redis(server.url);
    clients.push(redis);
    const prefix = 'raw';
    const sink = new ExecutionRecordSink(redis, prefix, { maxLen: 1000, flushMs: 5, onError: () => undefined });
    const raw: string[] = [];
    const parsed: string[] = [];
    let transient = 1;
    const refused = Object.assign(new Error('unsupported Unicode escape sequence'), { code: '22P05' });
    const stream = new ExecutionRecordStream({
      redis,
      prefix,
      consumer: 'c1',
      storeRaw: (entries) => {
        // Once unreachable (retried whole), then refusing the entry that holds record 3 for what is in it.
        if (transient-- > 0) return Promise.reject(new Error('connection terminated'));
        if (entries.some((e) => e.includes('inv-3'))) return Promise.reject(refused);
        raw.push(...entries);
        return Promise.resolve();
      },
      store: (batch) => {
        parsed.push(...batch.map((r) => r.invocationId));
        return Promise.resolve();
      },
      onError: () => undefined,
      isPermanent: (err) => (err as { code?: string }).code === '22P05',
      blockMs: 50,
    });
    await stream.start();
    try {
      sink.add(record(1));
      sink.add(record(2));
      await sink.flush();
      await until('the first entry stored as it came', () => Promise.resolve(raw.length === 1));
      expect((JSON.parse(raw[0]!) as ExecutionRecord[]).map((r) => r.invocationId)).toEqual(['inv-1', 'inv-2']);
      expect(parsed).toEqual([]);
      sink.add(record(3));
      await sink.flush();
      await until('record 3 stored parsed', () => Promise.resolve(parsed.includes('inv-3')));
      expect(parsed).toEqual(['inv-3']);
      expect(raw).toHaveLength(1);
    } finally {
      await stream.stop();
      sink.close();
    }
  });
});
