import { ExecutionRecordV1, redisKeys, type ExecutionRecord } from '@toolplane/contracts';
import type { Redis } from 'ioredis';

/**
 * Sends execution records to the control plane through a Redis stream: records written in the same
 * tick share one pipelined round trip; the stream is capped (approximately `maxLen` entries) so an
 * absent control plane cannot exhaust Redis, and records wait there until it is back.
 */
export class ExecutionRecordSink {
  private readonly redis: Redis;
  private readonly key: string;
  private readonly maxLen: number;
  private batch: ExecutionRecord[] = [];
  private flushing: Promise<void> | undefined;
  private readonly onError: (err: unknown) => void;

  constructor(redis: Redis, prefix: string, opts: { maxLen: number; onError: (err: unknown) => void }) {
    this.redis = redis;
    this.key = redisKeys(prefix).executionRecords;
    this.maxLen = opts.maxLen;
    this.onError = opts.onError;
  }

  add(record: ExecutionRecord): void {
    this.batch.push(record);
    if (this.batch.length === 1) setImmediate(() => void this.flush());
  }

  flush(): Promise<void> {
    const records = this.batch;
    this.batch = [];
    if (records.length === 0) return this.flushing ?? Promise.resolve();
    const pipeline = this.redis.pipeline();
    for (const r of records) pipeline.xadd(this.key, 'MAXLEN', '~', String(this.maxLen), '*', 'r', JSON.stringify(r));
    const p = pipeline.exec().then(
      () => undefined,
      (err: unknown) => this.onError(err),
    );
    this.flushing = p;
    return p;
  }
}

export interface ExecutionRecordStreamOptions {
  redis: Redis;
  prefix: string;
  /** Unique per control-plane process (consumer name in the group). */
  consumer: string;
  /** Stores a batch; must be idempotent (a batch may be delivered again after a crash). */
  store: (records: ExecutionRecord[]) => Promise<void>;
  onError: (err: unknown) => void;
  batchSize?: number;
  blockMs?: number;
  /** Pending entries idle this long are taken over from other (dead) consumers. */
  claimIdleMs?: number;
}

/**
 * The control plane's side: reads records with a consumer group, stores each batch, then acknowledges
 * and deletes it. A batch that fails to store stays pending and is retried; after a restart the
 * process first re-reads what it had taken but not acknowledged.
 */
export class ExecutionRecordStream {
  private readonly opts: ExecutionRecordStreamOptions;
  private readonly key: string;
  private readonly group = 'control-plane';
  private readonly conn: Redis;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly claimIdleMs: number;

  constructor(opts: ExecutionRecordStreamOptions) {
    this.opts = opts;
    this.key = redisKeys(opts.prefix).executionRecords;
    this.conn = opts.redis.duplicate(); // blocking reads get their own connection
    this.claimIdleMs = opts.claimIdleMs ?? 2000;
  }

  async start(): Promise<void> {
    try {
      await this.conn.xgroup('CREATE', this.key, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String(err).includes('BUSYGROUP')) throw err;
    }
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let pendingFirst = true;
    let lastClaim = 0;
    while (this.running) {
      try {
        // Entries another control plane took but never acknowledged (it died mid-batch) are taken
        // over once they have been idle for a while; storing is idempotent, so a slow peer is harmless.
        if (Date.now() - lastClaim > this.claimIdleMs) {
          lastClaim = Date.now();
          const claimed = (await this.conn.xautoclaim(this.key, this.group, this.opts.consumer, this.claimIdleMs, '0-0', 'COUNT', 500)) as [string, [string, string[]][]];
          if (claimed[1].length > 0) pendingFirst = true;
        }
        const res = (await this.conn.xreadgroup(
          'GROUP', this.group, this.opts.consumer,
          'COUNT', String(this.opts.batchSize ?? 200),
          'BLOCK', String(this.opts.blockMs ?? 1000),
          'STREAMS', this.key, pendingFirst ? '0' : '>',
        )) as [string, [string, string[]][]][] | null;
        const entries = res?.[0]?.[1] ?? [];
        if (pendingFirst && entries.length === 0) {
          pendingFirst = false;
          continue;
        }
        if (entries.length === 0) continue;
        const records: ExecutionRecord[] = [];
        for (const [, fields] of entries) {
          const parsed = ExecutionRecordV1.safeParse(JSON.parse(fields[1] ?? 'null'));
          if (parsed.success) records.push(parsed.data);
        }
        if (records.length > 0) await this.opts.store(records);
        const ids = entries.map(([id]) => id);
        await this.conn.xack(this.key, this.group, ...ids);
        await this.conn.xdel(this.key, ...ids);
      } catch (err) {
        if (!this.running) break;
        this.opts.onError(err);
        pendingFirst = true; // retry what is pending
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Finishes the batch in hand (at most one blocking read away), then disconnects. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop?.catch(() => undefined);
    this.conn.disconnect();
  }
}
