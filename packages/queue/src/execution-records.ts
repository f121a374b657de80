import { ExecutionRecordV1, redisKeys, type ExecutionRecord } from '@toolplane/contracts';
import type { Cluster, Redis } from 'ioredis';
import { exactCheck } from './exact-check.ts';
import { duplicateConnection } from './redis-forms.ts';

/**
 * Sends execution records to the control plane through a Redis stream. Records are buffered for up
 * to `flushMs` (or `maxBatch` records) and written as ONE stream entry holding the batch, so the cost
 * in Redis does not grow with the call rate. The stream is capped (about `maxLen` entries) so an absent
 * control plane cannot exhaust Redis; records wait there until it is back. A batch Redis refused
 * (unreachable, restarting) is kept and written again every `retryMs` until Redis takes it, up to
 * `maxBuffered` records (beyond it the oldest are dropped and reported through `onDropped`); `onError`
 * hears the first failure of an outage only. A write
 * whose reply was lost may land twice, which the store ignores (records are keyed by id). A crashed
 * process loses at most its unflushed buffer.
 */
export class ExecutionRecordSink<T = ExecutionRecord> {
  private readonly redis: Redis | Cluster;
  private readonly key: string;
  private readonly maxLen: number;
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private readonly retryMs: number;
  private readonly maxBuffered: number;
  private batch: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> = Promise.resolve();
  private readonly onError: (err: unknown) => void;
  private readonly onDropped: (count: number) => void;
  /** The last write failed: later failures of the same outage are not reported again. */
  private failing = false;

  constructor(
    redis: Redis | Cluster,
    prefix: string,
    opts: {
      maxLen: number;
      onError: (err: unknown) => void;
      onDropped?: (count: number) => void;
      flushMs?: number;
      maxBatch?: number;
      retryMs?: number;
      maxBuffered?: number;
      /** Another stream than the execution records' (the same delivery rules): e.g. `redisKeys(prefix).auditEvents`. */
      key?: string;
    },
  ) {
    this.redis = redis;
    this.key = opts.key ?? redisKeys(prefix).executionRecords;
    this.maxLen = opts.maxLen;
    this.onError = opts.onError;
    this.onDropped = opts.onDropped ?? (() => undefined);
    this.flushMs = opts.flushMs ?? 50;
    this.maxBatch = opts.maxBatch ?? 500;
    this.retryMs = opts.retryMs ?? 1000;
    this.maxBuffered = opts.maxBuffered ?? 10_000;
  }

  /** Records waiting to be written (buffered or refused by Redis). */
  get buffered(): number {
    return this.batch.length;
  }

  add(record: T): void {
    this.batch.push(record);
    this.bound();
    if (this.batch.length >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  /** Writes what is buffered; resolves when that write ended (in Redis, or kept for a retry). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const records = this.batch.splice(0, this.maxBatch);
    if (this.batch.length > 0) this.timer = setTimeout(() => void this.flush(), 0);
    if (records.length > 0) {
      const write = this.redis
        .xadd(this.key, 'MAXLEN', '~', String(this.maxLen), '*', 'b', JSON.stringify(records))
        .then(
          () => void (this.failing = false),
          (err: unknown) => {
            if (!this.failing) this.onError(err);
            this.failing = true;
            // Kept, before anything added meanwhile (order), and tried again later.
            this.batch.unshift(...records);
            this.bound();
            if (this.timer) clearTimeout(this.timer);
            this.timer = setTimeout(() => void this.flush(), this.retryMs);
          },
        );
      this.inflight = Promise.all([this.inflight, write]).then(() => undefined);
    }
    return this.inflight;
  }

  /** Drops the oldest records beyond `maxBuffered` (Redis away for long at a high call rate). */
  private bound(): void {
    const excess = this.batch.length - this.maxBuffered;
    if (excess > 0) {
      this.batch.splice(0, excess);
      this.onDropped(excess);
    }
  }

  /** Stops retrying (shutdown); what is still buffered is returned to the caller to report. */
  close(): number {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return this.batch.length;
  }
}

/** The records' compiled check (`exactCheck`), built at the first record: a record it takes is not parsed again. */
let exactRecord: ((data: unknown) => boolean) | undefined | null = null;

function parseExecutionRecord(raw: unknown): ExecutionRecord | undefined {
  if (exactRecord === null) exactRecord = exactCheck(ExecutionRecordV1);
  if (exactRecord?.(raw)) return raw as ExecutionRecord;
  const parsed = ExecutionRecordV1.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

export interface ExecutionRecordStreamOptions<T = ExecutionRecord> {
  redis: Redis | Cluster;
  prefix: string;
  /** Unique per control-plane process (consumer name in the group). */
  consumer: string;
  /** Stores a batch; must be idempotent (a batch may be delivered again after a crash). */
  store: (records: T[]) => Promise<void>;
  /**
   * Stores the entries as they came (each an entry's JSON text), unparsed; when it fails for what is in them
   * (`isPermanent`), the entries' records are parsed, checked and given to `store`. Absent: always `store`.
   */
  storeRaw?: (entries: string[]) => Promise<void>;
  /** Another stream than the execution records' (e.g. `redisKeys(prefix).auditEvents`), with its entries' parser. */
  stream?: { key: string; parse: (raw: unknown) => T | undefined };
  onError: (err: unknown) => void;
  /**
   * Whether the store refused a batch for what is in it (a value the database rejects) rather than for being
   * unreachable: the batch is then stored record by record, and a record refused on its own is set aside
   * (`onDropped`) instead of holding up every record after it. Absent: every failure is retried.
   */
  isPermanent?: (err: unknown) => boolean;
  onDropped?: (record: T, err: unknown) => void;
  /** Stream entries (each a batch of records) read at once. */
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
export class ExecutionRecordStream<T = ExecutionRecord> {
  private readonly opts: ExecutionRecordStreamOptions<T>;
  private readonly parse: (raw: unknown) => T | undefined;
  private readonly key: string;
  private readonly group = 'control-plane';
  private readonly conn: Redis | Cluster;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly claimIdleMs: number;

  constructor(opts: ExecutionRecordStreamOptions<T>) {
    this.opts = opts;
    this.key = opts.stream?.key ?? redisKeys(opts.prefix).executionRecords;
    this.parse = opts.stream?.parse ?? (parseExecutionRecord as (raw: unknown) => T | undefined);
    this.conn = duplicateConnection(opts.redis); // blocking reads get their own connection
    this.claimIdleMs = opts.claimIdleMs ?? 2000;
  }

  /** Creates the consumer group (and the stream) unless they exist; Redis may have restarted without them. */
  async ensureGroup(): Promise<void> {
    try {
      await this.conn.xgroup('CREATE', this.key, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String(err).includes('BUSYGROUP')) throw err;
    }
  }

  async start(): Promise<void> {
    await this.ensureGroup();
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
          const claimed = (await this.conn.xautoclaim(
            this.key,
            this.group,
            this.opts.consumer,
            this.claimIdleMs,
            '0-0',
            'COUNT',
            500,
          )) as [string, [string, string[]][]];
          if (claimed[1].length > 0) pendingFirst = true;
        }
        const res = (await this.conn.xreadgroup(
          'GROUP',
          this.group,
          this.opts.consumer,
          'COUNT',
          String(this.opts.batchSize ?? 20),
          'BLOCK',
          String(this.opts.blockMs ?? 1000),
          'STREAMS',
          this.key,
          pendingFirst ? '0' : '>',
        )) as [string, [string, string[]][]][] | null;
        const entries = res?.[0]?.[1] ?? [];
        if (pendingFirst && entries.length === 0) {
          pendingFirst = false;
          continue;
        }
        if (entries.length === 0) continue;
        // Each entry is a batch: fields are ['b', '[record, …]'].
        const texts = entries.map(([, fields]) => fields[1] ?? '[]');
        if (!(await this.storedRaw(texts))) {
          const records = texts.flatMap((text) => this.parseBatch(text));
          if (records.length > 0) await this.storeBatch(records);
        }
        const ids = entries.map(([id]) => id);
        await this.conn.xack(this.key, this.group, ...ids);
        await this.conn.xdel(this.key, ...ids);
      } catch (err) {
        if (!this.running) break;
        // The stream and its group are gone with Redis's data: recreate them and carry on.
        if (String(err).includes('NOGROUP')) {
          const recreated = await this.ensureGroup().then(
            () => true,
            () => false,
          );
          if (recreated) {
            pendingFirst = true;
            continue;
          }
        }
        this.opts.onError(err);
        pendingFirst = true; // retry what is pending
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Whether `storeRaw` stored the entries; false when there is none, or it refused them for what is in them. */
  private async storedRaw(texts: string[]): Promise<boolean> {
    const { storeRaw, isPermanent } = this.opts;
    if (!storeRaw) return false;
    try {
      await storeRaw(texts);
      return true;
    } catch (err) {
      if (!isPermanent?.(err)) throw err;
      return false;
    }
  }

  /** An entry's records, each checked (`parse`); what is not a record is left out. */
  private parseBatch(text: string): T[] {
    const batch: unknown = JSON.parse(text);
    const records: T[] = [];
    for (const raw of Array.isArray(batch) ? batch : []) {
      const parsed = this.parse(raw);
      if (parsed !== undefined) records.push(parsed);
    }
    return records;
  }

  /**
   * Stores a batch. When the store refuses it for its content, each record is stored alone and one refused for its
   * own content is dropped (reported); a failure to reach the store still fails the batch, which is retried whole
   * (storing is idempotent, so what was stored meanwhile is not stored twice).
   */
  private async storeBatch(records: T[]): Promise<void> {
    const { store, isPermanent, onDropped } = this.opts;
    try {
      await store(records);
    } catch (err) {
      if (!isPermanent?.(err)) throw err;
      for (const record of records) {
        try {
          await store([record]);
        } catch (one) {
          if (!isPermanent(one)) throw one;
          onDropped?.(record, one);
        }
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
