import { redisKeys } from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { z } from 'zod';
import { coalesceWrites } from './coalesce-writes.ts';
import { JobAdder, requestJobOptions } from './job-adder.ts';
import { bullPrefix, replyChannel } from './redis-forms.ts';

export interface RequestReplyOptions<R> {
  /** A connection for commands (its writes are coalesced: `coalesceWrites`); the client duplicates it for its subscriber. */
  redis: Redis | Cluster;
  prefix: string;
  /** Unique per process: replies for this process arrive on its own channel. */
  clientId: string;
  queueName: string;
  jobName: string;
  /** Parses a reply; `idOf` says which request it answers. */
  reply: z.ZodType<R>;
  idOf: (reply: R) => string;
  /**
   * A reply published in two parts (`<envelope JSON>\n<part>`, see `ReplyingConsumer`'s `message`): the value
   * `reply` parses, made of the envelope and the second part's bytes (not decoded here).
   */
  withPart?: (envelope: unknown, part: Uint8Array) => unknown;
  /** Messages on the channel that are not replies but events of a running request (an `event` member). */
  event?: { schema: z.ZodType<unknown>; idOf: (event: unknown) => string };
  /**
   * How often requests in flight are checked against the queue (ms, default 1000): a request whose job
   * is gone for this long without a reply, or whose Redis has been unreachable for `outageMs`, fails.
   */
  checkIntervalMs?: number;
  /** How long Redis may be unreachable before requests in flight fail (ms, default 3000). */
  outageMs?: number;
  /**
   * BullMQ prefixes of the queue's shards (`queueShardPrefixes`); requests go to them in turn. Default: one queue,
   * `bullPrefix`.
   */
  shards?: string[];
}

/**
 * Queue options of every request/reply queue. BullMQ appends every job's state changes to an event
 * stream (`<prefix>:<queue>:events`); nothing here reads it (replies travel on pub/sub, ADR 0005). With
 * its length capped at 0, BullMQ's scripts as patched by patches/bullmq@6.7.0.patch write no events at
 * all (ADR 0032): four stream entries and a trim less per job.
 */
export const queueStreams = { events: { maxLen: 0 } };

interface Pending<R> {
  resolve: (r: R) => void;
  reject: (e: Error) => void;
  /** Epoch ms at which it fails with `tool.timeout` (`sweepDeadlines`), and the wait that makes (for the message). */
  deadlineAt: number;
  timeoutMs: number;
  onEvent?: ((event: unknown) => void) | undefined;
  /** The job is in the queue (from then on its absence means it is lost or answered). */
  enqueued: boolean;
  /** Epoch ms since when the job has been seen missing without a reply arriving. */
  missingSince?: number | undefined;
  /** The shard its job went to. */
  shard: number;
}

/**
 * Requests in flight whose job left the queue without an answer: Redis restarted without its data, or
 * the job failed without a reply (a worker crashed twice on it). Nothing will answer them.
 */
export const lostJobMessage =
  'The call was lost: its job left the queue without an answer (Redis restarted without its data, or a worker ' +
  'failed). Its outcome is unknown; retry if the tool is safe to repeat.';
/** Requests in flight while Redis is unreachable: the job may run later (Redis with persistence) or never. */
const outageMessage =
  'The call could not be completed: Redis (the queue) became unreachable, so its outcome is unknown. ' +
  'Retry in a few seconds if the tool is safe to repeat.';

/**
 * Request/reply over BullMQ: enqueue a job, await its reply.
 *
 * Replies come back on a pub/sub channel owned by this process (`replyTo`), so each process
 * receives only its own replies and the cost per reply is one PUBLISH, whatever the number of
 * processes (BullMQ's QueueEvents would fan every completion out to everyone). See ADR 0005.
 *
 * Pub/sub and queue state are not durable, so a caller never waits on state that is gone: every
 * `checkIntervalMs` (and at each reconnect) the jobs of requests in flight are looked up; one missing
 * for a whole interval with no reply fails (`lostJobMessage`), and every request fails once Redis has
 * been unreachable for `outageMs` (`outageMessage`). Both are transient errors (`queue.unavailable`).
 */
export class RequestReplyClient<J extends { replyTo: string; deadlineAt: number }, R> {
  readonly clientId: string;
  private readonly queues: Queue[];
  /** Each queue's direct add of a request's job (`JobAdder`: what `Queue.add` writes, without its per-call work). */
  private readonly adders: JobAdder[];
  /** The shard of the next request (by call, in turn: ADR 0043). */
  private nextShard = 0;
  private readonly subscriber: Redis | Cluster;
  private readonly pending = new Map<string, Pending<R>>();
  private readonly channel: string;
  private readonly opts: RequestReplyOptions<R>;
  private ready: Promise<void> | undefined;
  private readonly checkIntervalMs: number;
  private readonly outageMs: number;
  private checker: NodeJS.Timeout | undefined;
  private checking = false;
  /** Epoch ms since when the command connection has been down (undefined while it is up). */
  private downSince: number | undefined;
  /**
   * One timer for every request's deadline, set for the earliest (`armDeadline`), instead of a timer per request: a
   * timer of a new duration made and removed a Node timer list on every call (each call's wait differs by the
   * milliseconds it took to get here), the most of the edge's timer work (docs/benchmarks.md, 2026-11-28, `36e6065`).
   */
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineTimerAt = Infinity;

  constructor(opts: RequestReplyOptions<R>) {
    this.opts = opts;
    this.clientId = opts.clientId;
    this.checkIntervalMs = opts.checkIntervalMs ?? 1000;
    this.outageMs = opts.outageMs ?? 3000;
    // Enqueues made in one event-loop turn leave in one socket write.
    coalesceWrites(opts.redis);
    this.queues = (opts.shards ?? [bullPrefix(opts.redis, opts.prefix)]).map((prefix) => {
      const queue = new Queue(opts.queueName, { connection: opts.redis, prefix, streams: queueStreams });
      // A Queue emits its connection's errors; without a listener an EventEmitter 'error' would throw.
      queue.on('error', () => undefined);
      return queue;
    });
    this.adders = this.queues.map((queue) => new JobAdder(queue, opts.redis, opts.jobName));
    this.subscriber = replyChannel.subscriber(opts.redis);
    this.channel = redisKeys(opts.prefix).results(opts.clientId);
    // As bytes: a reply's second part is passed on undecoded.
    this.subscriber.on(replyChannel.bufferEvent(this.subscriber), (_channel: Buffer, message: Buffer) =>
      this.onMessage(message),
    );
    opts.redis.on('close', () => (this.downSince ??= Date.now()));
    opts.redis.on('ready', () => {
      this.downSince = undefined;
      void this.check();
    });
  }

  start(): Promise<void> {
    this.checker ??= setInterval(() => void this.check(), this.checkIntervalMs).unref();
    // A failed subscribe is tried again by the next caller (ioredis resubscribes after reconnects).
    this.ready ??= replyChannel
      .subscribe(this.subscriber, this.channel)
      .then(() => undefined)
      .catch((err: unknown) => {
        this.ready = undefined;
        throw err;
      });
    return this.ready;
  }

  private fail(id: string, error: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.reject(error);
  }

  /** Fails requests whose job vanished or whose Redis stayed unreachable (see the class comment). */
  async check(now = Date.now()): Promise<void> {
    if (this.checking || this.pending.size === 0) return;
    this.checking = true;
    try {
      if (this.opts.redis.status !== 'ready') {
        this.downSince ??= now;
        if (now - this.downSince >= this.outageMs)
          for (const id of [...this.pending.keys()])
            this.fail(id, new TransientError('queue.unavailable', outageMessage, { invocationId: id }));
        return;
      }
      const enqueued = [...this.pending].filter(([, p]) => p.enqueued);
      if (enqueued.length === 0) return;
      // One pipeline per shard: in a cluster a pipeline's keys must be on one node.
      const byShard = new Map<number, (typeof enqueued)[number][]>();
      for (const entry of enqueued) {
        const group = byShard.get(entry[1].shard);
        if (group) group.push(entry);
        else byShard.set(entry[1].shard, [entry]);
      }
      const checked = await Promise.all(
        [...byShard].map(async ([shard, entries]) => {
          const pipeline = this.opts.redis.pipeline();
          for (const [id] of entries) pipeline.exists(this.queues[shard]!.toKey(id));
          const results = (await pipeline.exec()) ?? [];
          return entries.map(([id], i) => [id, results[i]] as const);
        }),
      );
      for (const [id, result] of checked.flat()) {
        const p = this.pending.get(id);
        const [err, exists] = result ?? [new Error('no answer')];
        if (!p || err) continue;
        if (exists === 1) p.missingSince = undefined;
        else if (p.missingSince === undefined) p.missingSince = now;
        // The worker publishes the reply before removing the job: a reply still missing after a
        // whole interval is never coming.
        else if (now - p.missingSince >= this.checkIntervalMs)
          this.fail(id, new TransientError('queue.unavailable', lostJobMessage, { invocationId: id }));
      }
    } catch {
      // Redis went away during the check: the next one sees it.
    } finally {
      this.checking = false;
    }
  }

  private onMessage(message: Buffer): void {
    let parsed: R;
    try {
      // JSON text holds no raw line feed: the first one ends a two-part reply's envelope.
      const { withPart } = this.opts;
      const split = withPart ? message.indexOf(0x0a) : -1;
      const raw: unknown = JSON.parse((split < 0 ? message : message.subarray(0, split)).toString('utf8'));
      if (withPart && split >= 0) parsed = this.opts.reply.parse(withPart(raw, message.subarray(split + 1)));
      else if (this.opts.event && typeof raw === 'object' && raw !== null && 'event' in raw) return this.onEvent(raw);
      else parsed = this.opts.reply.parse(raw);
    } catch {
      return; // a malformed message cannot be matched to a caller
    }
    const id = this.opts.idOf(parsed);
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.resolve(parsed);
  }

  /** Sets the deadline timer for `at` unless it is already set for that or earlier. */
  private armDeadline(at: number): void {
    if (at >= this.deadlineTimerAt) return;
    clearTimeout(this.deadlineTimer);
    this.deadlineTimerAt = at;
    // Unref'd: it may outlive the requests it was set for (it is not cleared when they end); a request in flight keeps
    // the process up through its Redis connections.
    this.deadlineTimer = setTimeout(() => this.sweepDeadlines(), Math.max(1, at - Date.now())).unref();
  }

  /** Fails the requests whose deadline passed (`tool.timeout`), then sets the timer for the earliest of the rest. */
  private sweepDeadlines(): void {
    this.deadlineTimer = undefined;
    this.deadlineTimerAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const [id, p] of this.pending) {
      if (p.deadlineAt <= now) {
        this.pending.delete(id);
        p.reject(new TransientError('tool.timeout', `no answer within ${p.timeoutMs} ms`));
      } else if (p.deadlineAt < next) next = p.deadlineAt;
    }
    if (next < Infinity) this.armDeadline(next);
  }

  private onEvent(raw: unknown): void {
    const event = this.opts.event!.schema.parse(raw);
    const p = this.pending.get(this.opts.event!.idOf(event));
    try {
      p?.onEvent?.(event);
    } catch {
      // a listener's failure must not break the channel
    }
  }

  /**
   * Enqueues the job (job id = `id`) and resolves with its reply, or rejects at `deadlineAt`, or when
   * `signal` aborts (then `onAbort` runs, e.g. to tell workers to stop). `onEnqueued` runs when the
   * job is in the queue, or with the error when it could not be added.
   */
  async request(
    id: string,
    job: J,
    signal?: AbortSignal,
    onAbort?: () => void,
    onEnqueued?: (error?: unknown) => void,
    onEvent?: (event: unknown) => void,
  ): Promise<R> {
    await this.start();
    const now = Date.now();
    const timeoutMs = Math.max(1, job.deadlineAt - now);
    const deadlineAt = now + timeoutMs;
    const shard = this.nextShard;
    this.nextShard = (shard + 1) % this.queues.length;
    const reply = new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, deadlineAt, timeoutMs, onEvent, enqueued: false, shard });
      signal?.addEventListener(
        'abort',
        () => {
          const p = this.pending.get(id);
          if (!p) return;
          this.pending.delete(id);
          onAbort?.();
          reject(new TransientError('tool.timeout', 'the caller cancelled the request'));
        },
        { once: true },
      );
    });
    this.armDeadline(deadlineAt);
    // The deadline may pass while the job is still being added: the rejection is then handled below.
    reply.catch(() => undefined);
    try {
      await this.adders[shard]!.add(job, id);
      const p = this.pending.get(id);
      if (p) p.enqueued = true;
      onEnqueued?.();
    } catch (err) {
      onEnqueued?.(err);
      this.pending.delete(id);
      throw new TransientError(
        'queue.unavailable',
        'The call was not run: the queue (Redis) is unavailable. Retry in a few seconds.',
        {},
        { cause: err },
      );
    }
    return reply;
  }

  /**
   * Enqueues a job nobody waits for here, delayed by `delayMs` (a call held for an approval: its reply settles a task;
   * it is promoted when decided). Answers the BullMQ prefix of the shard it went to, where it can be promoted.
   */
  async enqueueHeld(id: string, job: J, delayMs: number): Promise<string> {
    const shard = this.nextShard;
    this.nextShard = (shard + 1) % this.queues.length;
    const queue = this.queues[shard]!;
    try {
      await queue.add(this.opts.jobName, job, {
        jobId: id,
        delay: Math.max(0, Math.round(delayMs)),
        ...requestJobOptions,
      });
    } catch (err) {
      throw new TransientError(
        'queue.unavailable',
        'The call was not held: the queue (Redis) is unavailable. Retry in a few seconds.',
        {},
        { cause: err },
      );
    }
    return queue.opts.prefix!;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    clearInterval(this.checker);
    clearTimeout(this.deadlineTimer);
    this.deadlineTimerAt = Infinity;
    for (const [id, p] of this.pending) {
      p.reject(new TransientError('queue.unavailable', 'shutting down'));
      this.pending.delete(id);
    }
    await Promise.all(this.queues.map((q) => q.close()));
    this.subscriber.disconnect();
  }
}
