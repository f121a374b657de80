import { createHash, randomUUID } from 'node:crypto';
import { INBOUND_QUEUE, InboundDelivery, inboundHeldKey } from '@toolplane/contracts';
import { Queue, Worker, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { bullPrefix } from './redis-forms.ts';
import { queueStreams } from './reply-channel.ts';

/** How often a delivery whose handling failed (Redis, the secrets store) is tried again, with exponential backoff. */
const ATTEMPTS = 8;

/** What one queued delivery costs beyond its body (its job's hash, headers and ids), counted against the bounds. */
const JOB_OVERHEAD_BYTES = 4096;

/**
 * How long a delivery's hold lasts unless the worker releases it (a worker that died with it): past every retry of
 * the job's backoff (about two minutes), so a delivery waiting for a worker keeps its place.
 */
const INBOUND_HOLD_MS = 10 * 60_000;

/**
 * Takes a delivery's place in its instance's and its address's bounds (KEYS: the instance's set, the address's;
 * ARGV: now, the hold's end, the member, its bytes, the instance's most bytes, the address's most bytes). Lapsed holds
 * are dropped first. Returns 0 (held), 1 (the instance is full) or 2 (the address is).
 */
const HOLD = `
local now = tonumber(ARGV[1])
local function used(key)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local total = 0
  for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    total = total + (tonumber(string.match(m, '^(%d+):')) or 0)
  end
  return total
end
local bytes = tonumber(ARGV[4])
if used(KEYS[2]) + bytes > tonumber(ARGV[6]) then return 2 end
if used(KEYS[1]) + bytes > tonumber(ARGV[5]) then return 1 end
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[3])
  redis.call('PEXPIREAT', KEYS[i], ARGV[2])
end
return 0`;

/** How much one instance and one source address may have queued at once (bytes; ADR 0089). */
export interface InboundBounds {
  perInstanceBytes: number;
  perAddressBytes: number;
}

/** Whether a delivery was queued, or which bound refused it. */
export type InboundAdmission = { queued: true } | { refused: 'instance' | 'address' };

const addressDigest = (address: string): string => createHash('sha256').update(address).digest('hex').slice(0, 32);

/**
 * The inbound deliveries' queue (MCP Events, edge → worker; `INBOUND_QUEUE`): at least once. A delivery the provider
 * names (`deliveryId`: GitHub's `x-github-delivery`, Standard Webhooks' `webhook-id`) gets a job id derived from it, so
 * the provider's own retry while the first is queued adds nothing. Nothing is kept once a delivery is handled (taken
 * or refused) or has failed its last attempt: the job and its body are removed, and replays are the worker's seen set's
 * to refuse. While queued, a delivery holds its bytes against its instance's and its source address's bounds
 * (`inboundHeldKey`, ADR 0089): past either it is not queued.
 */
export class InboundQueue {
  private readonly queue: Queue;
  private readonly redis: Redis | Cluster;
  private readonly bounds: InboundBounds;

  constructor(redis: Redis | Cluster, prefix: string, bounds: InboundBounds) {
    this.redis = redis;
    this.bounds = bounds;
    this.queue = new Queue(INBOUND_QUEUE, {
      connection: redis,
      prefix: bullPrefix(redis, prefix),
      streams: queueStreams,
    });
    this.queue.on('error', () => undefined);
  }

  /** Queues a delivery: `from.address` is its client address as the edge limits it (`clientKey`; only its digest is kept). */
  async add(
    delivery: InboundDelivery,
    from: { deliveryId: string | undefined; address: string },
  ): Promise<InboundAdmission> {
    const { instanceId } = delivery;
    const address = addressDigest(from.address);
    const bytes = delivery.body.length + JOB_OVERHEAD_BYTES;
    const member = `${bytes}:${randomUUID()}`;
    const now = Date.now();
    const verdict = await this.redis.eval(
      HOLD,
      2,
      inboundHeldKey(instanceId),
      inboundHeldKey(instanceId, address),
      ...[now, now + INBOUND_HOLD_MS, member, bytes, this.bounds.perInstanceBytes, this.bounds.perAddressBytes],
    );
    if (verdict === 1) return { refused: 'instance' };
    if (verdict === 2) return { refused: 'address' };
    const jobId = from.deliveryId
      ? createHash('sha256').update(`${delivery.instanceId}\n${from.deliveryId}`).digest('hex')
      : undefined;
    try {
      await this.queue.add(
        'inbound',
        { ...delivery, held: { member, address } },
        {
          ...(jobId ? { jobId } : {}),
          attempts: ATTEMPTS,
          backoff: { type: 'exponential', delay: 1000 },
          removeOnComplete: true,
          removeOnFail: true,
        },
      );
    } catch (err) {
      await releaseHold(this.redis, instanceId, { member, address }).catch(() => undefined);
      throw err;
    }
    // A job of that id was queued already (the provider's retry, or someone sending its id again): this hold has no
    // job to end it, so it is given back now (a job already handled and removed reads as absent: released twice).
    if (jobId && !((await this.redis.hget(this.queue.toKey(jobId), 'data')) ?? '').includes(member))
      await releaseHold(this.redis, instanceId, { member, address });
    return { queued: true };
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

/** Gives a handled delivery's place back (both sets share the instance's hash tag). */
function releaseHold(
  redis: Redis | Cluster,
  instanceId: string,
  held: { member: string; address: string },
): Promise<unknown> {
  return redis
    .multi()
    .zrem(inboundHeldKey(instanceId), held.member)
    .zrem(inboundHeldKey(instanceId, held.address), held.member)
    .exec();
}

export interface InboundConsumerOptions {
  redis: Redis | Cluster;
  prefix: string;
  concurrency: number;
  /** One delivery; a throw is retried (backoff), a return is done. `attempt` counts from 1. */
  handle: (delivery: InboundDelivery, attempt: number) => Promise<void>;
  onInvalid: (jobId: string | undefined) => void;
  onError: (err: unknown) => void;
}

/** The worker's side of `INBOUND_QUEUE`. */
export class InboundConsumer {
  private readonly worker: Worker;
  private readonly opts: InboundConsumerOptions;
  private queue: Queue | undefined;

  constructor(opts: InboundConsumerOptions) {
    this.opts = opts;
    const run = async (job: Job): Promise<void> => {
      const parsed = InboundDelivery.safeParse(job.data);
      if (!parsed.success) return opts.onInvalid(job.id);
      const { held, instanceId } = parsed.data;
      const release = () => (held ? releaseHold(opts.redis, instanceId, held).catch(() => undefined) : undefined);
      try {
        await opts.handle(parsed.data, job.attemptsMade + 1);
      } catch (err) {
        // The last attempt failed: the job is removed, and its place given back.
        if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) await release();
        throw err;
      }
      await release();
    };
    this.worker = new Worker(INBOUND_QUEUE, run, {
      connection: opts.redis,
      prefix: bullPrefix(opts.redis, opts.prefix),
      concurrency: opts.concurrency,
      autorun: false,
      runRetryDelay: 1000,
    });
    this.worker.on('error', (err) => opts.onError(err));
  }

  start(): void {
    void this.worker.run();
  }

  waitUntilReady(): Promise<unknown> {
    return this.worker.waitUntilReady();
  }

  /** Deliveries queued by state (the queue-depth metric: the events' backlog; the `Queue` is opened on first use). */
  async jobCounts(): Promise<Record<string, number>> {
    this.queue ??= new Queue(INBOUND_QUEUE, {
      connection: this.opts.redis,
      prefix: bullPrefix(this.opts.redis, this.opts.prefix),
      streams: queueStreams,
    });
    this.queue.on('error', (err) => this.opts.onError(err));
    const c = await this.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
    return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0 };
  }

  async close(): Promise<void> {
    await Promise.all([this.worker.close(), this.queue?.close()]);
  }
}
