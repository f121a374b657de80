import { Worker, type Job, type Processor, type WorkerOptions } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { atTurnEnd } from './coalesce-writes.ts';
import { JobTaker, type NextJobData } from './job-taker.ts';
import { WakeTake } from './wake-take.ts';

/** The most jobs one fetch takes (each a slot of the worker's concurrency that is free). */
const MAX_TAKE = 16;

/**
 * BullMQ's `moveToFinished` for a completed job that is removed once finished (keepJobs count 0) and has no parent
 * and no deduplication id: the same checks in the same order, the same keys written, for every job a turn of the event
 * loop finished, in one script call (cost cut 3, docs/benchmarks.md). What it leaves out is what such a job never
 * has (a parent's dependencies, a deduplication key, the `atm` count of a hash it deletes, metrics the worker does not
 * collect) and the fetch of the next job: it answers whether one waits, and the worker then fetches it with BullMQ's
 * own `moveToActive`. A job that has a parent or a deduplication id after all answers 1, untouched: BullMQ's script
 * finishes it. Events are written as the patched scripts write them (ADR 0032: none on a queue capped at 0).
 *
 * KEYS: active, stalled, meta, events, wait, prioritized, delayed. ARGV: key prefix, timestamp, then a job id and its
 * lock token per job. Answers each job's code (0 done, 1 not this script's, BullMQ's negative codes), then 1 when a
 * job waits (or a delayed one is due), then the next delayed job's timestamp (0: none).
 */
const finishJobsLua = `
local rcall = redis.call
local activeKey, stalledKey, metaKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, timestamp = ARGV[1], ARGV[2]
-- The event stream's cap, set as BullMQ's trimEvents sets it; a queue capped at 0 writes no events (ADR 0032).
local maxEvents = rcall("HGET", metaKey, "opts.maxLenEvents")
if not maxEvents then
  maxEvents = 10000
  rcall("HSET", metaKey, "opts.maxLenEvents", maxEvents)
end
local eventsOn = tostring(maxEvents) ~= "0"
local function finish(jobId, token)
  local jobKey = prefix .. jobId
  if rcall("EXISTS", jobKey) ~= 1 then return -1 end
  if rcall("SCARD", jobKey .. ":dependencies") ~= 0 then return -4 end
  if rcall("ZCARD", jobKey .. ":unsuccessful") ~= 0 then return -9 end
  local attributes = rcall("HMGET", jobKey, "parentKey", "parent", "deid")
  if attributes[1] or attributes[2] or attributes[3] then return 1 end
  if token ~= "0" then
    local lockKey = jobKey .. ":lock"
    local lockToken = rcall("GET", lockKey)
    if lockToken ~= token then
      if lockToken then return -6 end
      return -2
    end
    rcall("DEL", lockKey)
    rcall("SREM", stalledKey, jobId)
  end
  if rcall("LREM", activeKey, -1, jobId) < 1 then return -3 end
  if eventsOn then rcall("XTRIM", eventsKey, "MAXLEN", "~", maxEvents) end
  rcall("DEL", jobKey, jobKey .. ":logs", jobKey .. ":dependencies", jobKey .. ":processed",
    jobKey .. ":failed", jobKey .. ":unsuccessful")
  if eventsOn then
    rcall("XADD", eventsKey, "*", "event", "completed", "jobId", jobId, "returnvalue", "null", "prev", "active")
  end
  return 0
end
local out = {}
for i = 3, #ARGV, 2 do out[#out + 1] = finish(ARGV[i], ARGV[i + 1]) end
local more = 0
if rcall("LLEN", KEYS[5]) > 0 or rcall("ZCARD", KEYS[6]) > 0 or
    #rcall("ZRANGEBYSCORE", KEYS[7], 0, (tonumber(timestamp) + 1) * 0x1000 - 1, "LIMIT", 0, 1) > 0 then
  more = 1
elseif eventsOn and rcall("LLEN", activeKey) == 0 then
  rcall("XADD", eventsKey, "*", "event", "drained")
end
local nextDelayed = 0
local first = rcall("ZRANGE", KEYS[7], 0, 0, "WITHSCORES")
if first[2] then nextDelayed = math.floor(tonumber(first[2]) / 0x1000) end
out[#out + 1] = more
out[#out + 1] = nextDelayed
return out
`;

interface Pending {
  jobId: string;
  token: string;
  resolve: (outcome: FinishOutcome) => void;
  reject: (err: unknown) => void;
}

/** A job's finish: BullMQ's code (0 done, 1 left to BullMQ, negative an error), whether a job waits, the next delay. */
interface FinishOutcome {
  code: number;
  more: boolean;
  nextDelayed: number;
  finishedOn: number;
}

type FinishCommand = (...args: (string | number)[]) => Promise<number[]>;
const commandName = 'toolplaneFinishJobs';

/** Finishes the completed jobs of one queue that a turn of the event loop ended, in one script call at the turn's end. */
export class JobFinisher {
  private pending: Pending[] = [];
  private readonly keys: string[];
  private readonly redis: Redis | Cluster;
  private readonly keyPrefix: string;

  constructor(redis: Redis | Cluster, keys: Record<string, string>) {
    this.redis = redis;
    this.keyPrefix = keys['']!;
    this.keys = (['active', 'stalled', 'meta', 'events', 'wait', 'prioritized', 'delayed'] as const).map(
      (k) => keys[k]!,
    );
    if (!(commandName in redis))
      redis.defineCommand(commandName, { numberOfKeys: this.keys.length, lua: finishJobsLua });
  }

  finish(jobId: string, token: string): Promise<FinishOutcome> {
    return new Promise((resolve, reject) => {
      if (this.pending.push({ jobId, token, resolve, reject }) === 1) atTurnEnd(this.redis, () => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    const finishedOn = Date.now();
    const args: (string | number)[] = [...this.keys, this.keyPrefix, finishedOn];
    for (const p of batch) args.push(p.jobId, p.token);
    const command = (this.redis as unknown as Record<string, FinishCommand>)[commandName]!;
    command.apply(this.redis, args).then(
      (answer) => {
        const more = answer[batch.length] === 1;
        const nextDelayed = answer[batch.length + 1] ?? 0;
        batch.forEach((p, i) => p.resolve({ code: answer[i]!, more, nextDelayed, finishedOn }));
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err);
      },
    );
  }
}

/** What `FinishingWorker` reads of BullMQ's worker and backend beyond their declared types. */
interface WorkerInternals {
  drained: boolean;
  /** BullMQ's wait on the marker in progress (none: not waiting). */
  waiting: Promise<number> | null;
  waitForJob(blockUntil: number): Promise<number>;
  mainLoopQueue: { numTotal(): number } | null;
  updateDelays(limitDelay?: number, delayUntil?: number): void;
  backend: {
    closing: boolean | undefined;
    client: Promise<Redis | Cluster>;
    blockingConnection?: { client: Promise<Redis | Cluster> };
    queue: { keys: Record<string, string> };
    getKeepJobs(shouldRemove: unknown, workerKeepJobs: unknown): { count?: number };
    finishedErrors(e: { code: number; jobId?: string; command: string; state?: string }): Error;
  };
}

/**
 * A BullMQ worker whose completed request/reply jobs are finished by `JobFinisher` (one script call per turn, few
 * arguments) instead of `moveToFinished` one job at a time, and whose fetch takes the jobs that wait, up to its free
 * slots, in one script call (`JobTaker`: BullMQ's `moveToActive` once per job) and starts them one after the other
 * as BullMQ's main loop asks for them (at once: it fetches while a slot is free). Everything else (locks and their
 * renewal, stalled-job recovery, failures) is BullMQ's. A job the finisher does not cover (kept once completed, a
 * parent, a deduplication id, metrics) goes through BullMQ's own path; so does every fetch of a worker with a rate
 * limiter or a name.
 */
export class FinishingWorker extends Worker {
  private finisher: JobFinisher | undefined;
  private taker: JobTaker | null | undefined;
  /** Jobs taken by the last fetch and not started yet, each with its lock's token. */
  private readonly taken: { data: NextJobData; token: string }[] = [];
  private isDrained = false;
  /** Whether jobs waited at this worker's last finish (its own, or BullMQ's that fetched one). */
  private backlog = false;
  private blocked = false;
  /** The take sent with each wait on the marker (none: a cluster, a rate limiter or a named worker). */
  private wake: WakeTake | null | undefined;
  private wakes = 0;
  /** Closing (set before BullMQ's own close): jobs a wait's take fetches go back. */
  private stopping = false;
  /** Epoch ms since when BullMQ's loop waits on the marker (undefined: not waiting); read by the consumer's watch. */
  waitingSince: number | undefined;

  constructor(name: string, processor: Processor, opts: WorkerOptions) {
    super(name, processor, opts);
    // BullMQ blocks on the marker once drained: never while jobs this worker took wait to be started.
    Object.defineProperty(this, 'drained', {
      get: () => this.isDrained && this.taken.length === 0,
      set: (drained: boolean) => (this.isDrained = drained),
    });
    // Whether BullMQ's main loop is blocked on the marker: a fetch made meanwhile (a job's finish) takes one job only,
    // as BullMQ's does, since jobs it took besides would wait for the loop to wake up. Each wait carries the take that
    // follows it (`WakeTake`): what it fetched is started as BullMQ's loop asks for its next job.
    const self = this as unknown as WorkerInternals;
    const wait = self.waitForJob.bind(this);
    self.waitForJob = async (blockUntil: number) => {
      this.blocked = true;
      this.waitingSince = Date.now();
      const wake = this.stopping ? undefined : await this.wakeTakeOf();
      wake?.arm(this.wakeTokens());
      try {
        return await wait(blockUntil);
      } finally {
        this.waitingSince = undefined;
        this.blocked = false;
        if (wake) this.taken.push(...(await wake.collect(!this.closing && !this.stopping)));
      }
    };
  }

  protected override async moveToActive(token: string, name?: string): Promise<Job> {
    // Closing: no job is started from now on (what a wait took went back), as after BullMQ's own close began.
    if (this.stopping) return this.nextJobFromJobData(undefined, undefined, token);
    const next = this.taken.shift();
    if (next) return this.start(next);
    const self = this as unknown as WorkerInternals;
    const room = this.concurrency - (self.mainLoopQueue?.numTotal() ?? this.concurrency);
    const batch = room > 1 && !this.blocked && name === undefined && this.plainFetch();
    const taker = batch ? await this.takerOf() : undefined;
    if (!taker) return super.moveToActive(token, name);
    const tokens = Array.from({ length: Math.min(room, MAX_TAKE) }, (_, i) => (i === 0 ? token : `${token}.${i}`));
    const [first, ...rest] = await taker.take(tokens, this.opts.lockDuration ?? 30_000);
    const more = rest.map((data, i) => ({ data, token: tokens[i + 1]! }));
    // Closing, or the loop blocked on the marker meanwhile (a fetch not the loop's own): nobody would start them.
    if (this.closing || this.blocked) await taker.giveBack(more.map((t) => ({ id: t.data[1]!, token: t.token })));
    else this.taken.push(...more);
    return this.start({ data: first!, token });
  }

  /** BullMQ's own finish (with its fetch of the next job); no job fetched: none waited, or none was to be fetched. */
  private async bullFinish(args: Parameters<Worker['handleCompleted']>): Promise<Job> {
    const next = await super.handleCompleted(...args);
    if (!next) this.backlog = false;
    return next;
  }

  /** A finished job's next: one taken before, else BullMQ's fetch of one (as its own finish would fetch). */
  private fetchOne(token: string): Promise<Job> {
    const next = this.taken.shift();
    return next ? this.start(next) : super.moveToActive(token, this.opts.name);
  }

  /** A taken job handed to BullMQ's loop, as its own fetch would (the patched rule: drained after the last waiting). */
  private async start({ data, token }: { data: NextJobData; token: string }): Promise<Job> {
    const [jobData, id, rateLimitDelay, delayUntil, moreWaiting] = data;
    (this as unknown as WorkerInternals).updateDelays(rateLimitDelay, delayUntil);
    const job = await this.nextJobFromJobData(jobData as Parameters<Worker['nextJobFromJobData']>[0], id, token);
    if (job && moreWaiting === 0) this.isDrained = true;
    return job;
  }

  private async takerOf(): Promise<JobTaker | undefined> {
    if (this.taker === undefined) {
      const backend = (this as unknown as WorkerInternals).backend;
      this.taker = JobTaker.on(await backend.client, backend.queue.keys) ?? null;
    }
    return this.taker ?? undefined;
  }

  /** On the blocking connection, unless it is a cluster's or the worker takes jobs by name or under a rate limit. */
  private async wakeTakeOf(): Promise<WakeTake | undefined> {
    if (this.wake === undefined) {
      this.wake = null;
      const backend = (this as unknown as WorkerInternals).backend;
      const blocking = await backend.blockingConnection?.client;
      const taker =
        blocking && !blocking.isCluster && this.plainFetch() ? JobTaker.on(blocking, backend.queue.keys) : undefined;
      if (taker) this.wake = new WakeTake(blocking as Redis, taker, this.opts.lockDuration ?? 30_000);
    }
    return this.wake ?? undefined;
  }

  private plainFetch(): boolean {
    return this.opts.name === undefined && !this.opts.limiter;
  }

  /** A wait's take: one token per slot free besides the wait's own (at least one), as a fetch of the loop takes. */
  private wakeTokens(): string[] {
    const self = this as unknown as WorkerInternals;
    const room = this.concurrency - (self.mainLoopQueue?.numTotal() ?? this.concurrency);
    const first = `${this.id}:w${++this.wakes}`;
    return Array.from({ length: Math.max(1, Math.min(room, MAX_TAKE)) }, (_, i) => (i === 0 ? first : `${first}.${i}`));
  }

  /**
   * Jobs taken and not started go back to the queue's head before BullMQ closes. A wait in progress is ended first (as
   * a timeout) and its take's jobs go back too: BullMQ's close would cut the blocking connection with the take's answer
   * maybe on its way.
   */
  override async close(force = false): Promise<void> {
    this.stopping = true;
    const self = this as unknown as WorkerInternals;
    const waiting = self.waiting;
    if (this.wake && waiting) {
      const main = (await self.backend.client) as Redis;
      if (await this.wake.unblock(main).catch(() => false)) await waiting.catch(() => undefined);
    }
    const left = this.taken.splice(0);
    if (left.length && this.taker) await this.taker.giveBack(left.map((t) => ({ id: t.data[1]!, token: t.token })));
    return super.close(force);
  }

  // BullMQ's signature (five parameters), taken as it is.
  protected override async handleCompleted(...args: Parameters<Worker['handleCompleted']>): Promise<Job> {
    const [result, job, token, fetchNextCallback = () => true] = args;
    const self = this as unknown as WorkerInternals;
    const backend = self.backend;
    // While jobs wait (the last finish or fetch said so), BullMQ's finish, which fetches the next job in the same
    // script, saves a round trip per job; the finisher's pays when the queue keeps up (each finish's fetch would find
    // nothing).
    if (!this.covers(job) || this.backlog) return this.bullFinish(args);
    if (backend.closing) return undefined as unknown as Job;
    const fetchNext = fetchNextCallback() && !(this.closing || this.stopping || this.isPaused());
    const client = await backend.client;
    this.finisher ??= new JobFinisher(client, backend.queue.keys);
    const outcome = await this.finisher.finish(job.id!, token);
    if (outcome.code === 1) return this.bullFinish(args);
    if (outcome.code < 0)
      throw backend.finishedErrors({ code: outcome.code, jobId: job.id, command: 'moveToFinished', state: 'active' });
    this.backlog = outcome.more;
    job.returnvalue = result || undefined;
    job.finishedOn = outcome.finishedOn;
    job.attemptsMade += 1;
    this.emit('completed', job, result, 'active');
    if (!fetchNext) return undefined as unknown as Job;
    // A job waits: BullMQ's own fetch (and its patched rule on the marker). None: what its fetch would have
    // concluded (drained; the next delayed job's time to block until).
    if (outcome.more || this.taken.length > 0) return this.fetchOne(token);
    self.updateDelays(0, outcome.nextDelayed);
    return this.nextJobFromJobData(undefined, undefined, token);
  }

  private covers(job: Job): boolean {
    if (job.parentKey || job.parent || job.deduplicationId || this.opts.metrics || !job.id) return false;
    const backend = (this as unknown as WorkerInternals).backend;
    return backend.getKeepJobs(job.opts.removeOnComplete, this.opts.removeOnComplete).count === 0;
  }
}
