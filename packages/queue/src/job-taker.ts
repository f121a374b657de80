import { createRequire } from 'node:module';
import type { Cluster, Redis } from 'ioredis';

// BullMQ's decoding of a fetched job (the same its `moveToActive` applies); the package declares no types for it.
const { raw2NextJobData } = createRequire(import.meta.url)('bullmq/dist/cjs/classes/redis-queue-backend.js') as {
  raw2NextJobData: (raw: unknown) => NextJobData;
};

/** What BullMQ's fetch answers: the job's JSON (none: no job), its id, a rate-limit delay, a delay, whether more wait. */
export type NextJobData = [unknown, string | undefined, number, number, number?];

// The line of BullMQ's `moveToActive` script that decodes its options: here they are a table the take builds.
const optsLine = 'local opts = cmsgpack.unpack(ARGV[3])';
const moveToActiveKeys = [
  'wait',
  'active',
  'prioritized',
  'events',
  'stalled',
  'limiter',
  'delayed',
  'paused',
  'meta',
  'pc',
  'marker',
] as const;

/**
 * BullMQ's `moveToActive` script (as patched, ADR 0029) run up to once per token in one call: it stops at the first
 * fetch that finds no job or that took the last waiting one. When it took more than one and none waits after, the
 * wake-up marker its takes put back is taken away (the patch's rule: a marker only while a job waits).
 */
function takeLua(moveToActive: string): string {
  return `local function takeOne(KEYS, ARGV)
${moveToActive.replace(optsLine, 'local opts = ARGV[3]')}
end
local out = {}
local lockDuration = tonumber(ARGV[3])
for i = 4, #ARGV do
  local r = takeOne(KEYS, {ARGV[1], ARGV[2], {token = ARGV[i], lockDuration = lockDuration}})
  if r[1] == 0 then
    if #out == 0 then out[1] = r end
    break
  end
  out[#out + 1] = r
  if r[5] == 0 then break end
end
if #out > 1 and out[#out][5] == 0 then redis.call("ZREM", KEYS[11], "0") end
return out
`;
}

/**
 * Jobs taken but not started (a worker closing) go back to the head of the wait list, as they were: lock released,
 * out of the active list, their start count given back, a wake-up marker for the next fetcher. KEYS: active, wait,
 * marker. ARGV: key prefix, then a job id and its lock token per job.
 */
const giveBackLua = `
-- The last first: pushed to the head (the right, where fetches pop) they keep the order they were taken in.
for i = #ARGV - 1, 2, -2 do
  local jobKey = ARGV[1] .. ARGV[i]
  if redis.call("GET", jobKey .. ":lock") == ARGV[i + 1] then
    redis.call("DEL", jobKey .. ":lock")
    if redis.call("LREM", KEYS[1], -1, ARGV[i]) > 0 then
      redis.call("RPUSH", KEYS[2], ARGV[i])
      redis.call("HINCRBY", jobKey, "ats", -1)
      redis.call("ZADD", KEYS[3], 0, "0")
    end
  end
end
return 0
`;

type Command = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Takes several waiting jobs of one queue in one script call (cost cut 3): each take is BullMQ's own `moveToActive`,
 * with its lock, its `active` entry and its start count, so a job taken here and never started (its worker died) is
 * one the stalled-job check hands to another worker, as any running job of a dead worker.
 */
export class JobTaker {
  private readonly redis: Redis | Cluster;
  private readonly keys: string[];
  private readonly prefix: string;
  private readonly take1: string;
  private readonly back: string;

  private constructor(redis: Redis | Cluster, keys: Record<string, string>, version: string) {
    this.redis = redis;
    this.keys = moveToActiveKeys.map((k) => keys[k]!);
    this.prefix = keys['']!;
    this.take1 = `toolplaneTakeJobs:${version}`;
    this.back = 'toolplaneGiveBackJobs';
  }

  /** A taker on BullMQ's script as the connection has it (none when it lacks it or the script is not the one expected). */
  static on(redis: Redis | Cluster, keys: Record<string, string>): JobTaker | undefined {
    const set = (redis as unknown as { scriptsSet?: Record<string, { lua?: string; numberOfKeys?: number | null }> })
      .scriptsSet;
    const name = Object.keys(set ?? {}).find((n) => n.startsWith('moveToActive:'));
    const script = name ? set![name] : undefined;
    if (!script?.lua?.includes(optsLine) || script.numberOfKeys !== moveToActiveKeys.length) return undefined;
    const taker = new JobTaker(redis, keys, name!.slice('moveToActive:'.length));
    if (!(taker.take1 in redis))
      redis.defineCommand(taker.take1, { numberOfKeys: moveToActiveKeys.length, lua: takeLua(script.lua) });
    if (!(taker.back in redis)) redis.defineCommand(taker.back, { numberOfKeys: 3, lua: giveBackLua });
    return taker;
  }

  /** One fetch per token, in order, until none waits; at least one answer (maybe without a job). */
  async take(tokens: string[], lockDuration: number): Promise<NextJobData[]> {
    const command = (this.redis as unknown as Record<string, Command>)[this.take1]!;
    const raws = (await command.apply(this.redis, [
      ...this.keys,
      this.prefix,
      Date.now(),
      lockDuration,
      ...tokens,
    ])) as unknown[];
    return raws.map((raw) => raw2NextJobData(raw));
  }

  async giveBack(jobs: { id: string; token: string }[]): Promise<void> {
    if (jobs.length === 0) return;
    const command = (this.redis as unknown as Record<string, Command>)[this.back]!;
    const [active, wait, marker] = (['active', 'wait', 'marker'] as const).map(
      (k) => this.keys[moveToActiveKeys.indexOf(k)]!,
    );
    await command.apply(this.redis, [active!, wait!, marker!, this.prefix, ...jobs.flatMap((j) => [j.id, j.token])]);
  }
}
