import { randomBytes } from 'node:crypto';
import { redisKeys } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { RedisClient } from '@toolplane/redis';
import type { Cluster } from 'ioredis';

/** What the control plane leaves in Redis once the runtime state is complete (`redisKeys().runtimeState`). */
export interface StateMarker {
  /** Random per publication. */
  epoch: string;
  /** Redis's `run_id` (INFO server) when the state was published: it changes at every Redis restart. */
  runId: string;
  publishedAt: number;
}

/** The Redis side of the keeper (a small interface so the detection logic is testable without Redis). */
export interface RuntimeStateStore {
  /** Redis's current `run_id`. */
  runId(): Promise<string>;
  marker(): Promise<StateMarker | undefined>;
  writeMarker(marker: StateMarker): Promise<void>;
}

function runIdOf(info: string): string {
  const runId = /^run_id:(\S+)/m.exec(info)?.[1];
  if (!runId) throw new Error('INFO server has no run_id');
  return runId;
}

export function redisStateStore(redis: RedisClient, prefix: string): RuntimeStateStore {
  const { runtimeState: key, stateRepublished } = redisKeys(prefix);
  return {
    async runId() {
      // In a cluster INFO answers from one node: the run is every master's, so that one master restarting (or a
      // replica promoted after a failover, which may have missed the last writes) counts as a restart.
      if (!redis.isCluster) return runIdOf(await redis.info('server'));
      const masters = (redis as Cluster).nodes('master');
      const ids = await Promise.all(masters.map(async (node) => runIdOf(await node.info('server'))));
      return ids.sort().join(',');
    },
    async marker() {
      const raw = await redis.get(key);
      if (!raw) return undefined;
      try {
        const m = JSON.parse(raw) as Partial<StateMarker>;
        return typeof m.epoch === 'string' && typeof m.runId === 'string' ? (m as StateMarker) : undefined;
      } catch {
        return undefined;
      }
    },
    async writeMarker(marker) {
      await redis.set(key, JSON.stringify(marker));
      // What edges and workers cached may be of another state (a database restored from a backup knows other keys,
      // policies and catalog versions): they drop it all.
      await redis.publish(stateRepublished, marker.epoch);
    },
  };
}

export type CheckOutcome = 'intact' | 'restored' | 'unreachable';

export interface RuntimeStateKeeperOptions {
  store: RuntimeStateStore;
  /** Publishes everything edges and workers read (idempotent): the code run at start. */
  publish: () => Promise<void>;
  log: Pick<Logger, 'info' | 'warn'>;
  /** How often Redis is checked besides each reconnect (ms). */
  intervalMs: number;
}

/**
 * PostgreSQL is the truth; Redis holds derived state. The keeper republishes that state whenever Redis
 * may have lost it: the marker is missing (a flush, or a restart without persistence) or names another
 * `run_id` (a restart; with AOF the last second of writes may be gone). The marker is written after the
 * publication, and only if Redis did not restart meanwhile, so its presence means "complete".
 * Checks run on each reconnect (`check()` from the `ready` event) and every `intervalMs`, one at a time.
 */
export class RuntimeStateKeeper {
  private readonly opts: RuntimeStateKeeperOptions;
  private running: Promise<CheckOutcome> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastWarning = 0;
  /** A publication failed (Redis unreachable mid-write): PostgreSQL may be ahead of Redis. */
  private stale = false;
  /** Epoch ms when the last restoration finished (for logs and tests). */
  lastRestoredAt: number | undefined;

  constructor(opts: RuntimeStateKeeperOptions) {
    this.opts = opts;
  }

  /** Checks now (joining a check already running). */
  check(): Promise<CheckOutcome> {
    this.running ??= this.checkOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Publishes unconditionally (at start), then writes the marker. Throws if Redis is unreachable. */
  async restore(reason: string): Promise<void> {
    const runId = await this.opts.store.runId();
    await this.publishAndMark(runId, reason);
  }

  /**
   * Says that a write to Redis failed after PostgreSQL may have changed: the next check republishes
   * everything even if Redis kept its data (the publisher calls it on every failure).
   */
  markStale(): void {
    this.stale = true;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.check(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async checkOnce(): Promise<CheckOutcome> {
    try {
      const [runId, marker] = await Promise.all([this.opts.store.runId(), this.opts.store.marker()]);
      if (marker && marker.runId === runId && !this.stale) return 'intact';
      const reason = !marker
        ? 'runtime state missing from Redis'
        : marker.runId !== runId
          ? 'Redis restarted'
          : 'a publication failed';
      this.stale = false;
      try {
        await this.publishAndMark(runId, reason);
      } catch (err) {
        if (reason === 'a publication failed') this.stale = true;
        throw err;
      }
      return 'restored';
    } catch (err) {
      // Redis is unreachable (or went away mid-publication): the next check or reconnect tries again.
      if (Date.now() - this.lastWarning > 5000) {
        this.lastWarning = Date.now();
        this.opts.log.warn({ err }, 'runtime state could not be checked or restored; retrying');
      }
      return 'unreachable';
    }
  }

  private async publishAndMark(runId: string, reason: string): Promise<void> {
    const started = Date.now();
    await this.opts.publish();
    // Redis restarted during the publication: part of it went to the old instance; the next check redoes it.
    if ((await this.opts.store.runId()) !== runId) throw new Error('Redis restarted during the publication');
    await this.opts.store.writeMarker({ epoch: randomBytes(12).toString('hex'), runId, publishedAt: Date.now() });
    this.lastRestoredAt = Date.now();
    this.opts.log.info({ reason, runId, ms: Date.now() - started }, 'runtime state published to Redis');
  }
}
