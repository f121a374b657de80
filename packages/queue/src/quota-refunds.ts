import type { Cluster, Redis } from 'ioredis';
import { createHash } from 'node:crypto';

/**
 * Quota counters given back (ADR 0048): by the edge when a call ran nothing (an external server's `input_required`
 * round) or ends (calls in flight), by the worker when a charged job expired in the queue. All of a call's counters
 * share a workspace's hash tag, so one script takes them on a Redis Cluster too.
 */

/** KEYS: counters; ARGV: amounts. Gives each back, never below zero. */
const GIVE_BACK = `
for i = 1, #KEYS do
  local left = redis.call('DECRBY', KEYS[i], ARGV[i])
  if left < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
end
return 1
`;

const giveBackSha = createHash('sha1').update(GIVE_BACK).digest('hex');

/** Runs a script by its SHA, loading it when the server does not have it (a restart, a failover). */
export async function runScript(
  redis: Redis | Cluster,
  script: { body: string; sha: string },
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
    return redis.eval(script.body, keys.length, ...keys, ...args);
  }
}

/** Gives `amounts[i]` back to each counter `keys[i]` (not below zero). */
export async function giveBackQuota(
  redis: Redis | Cluster,
  charge: { keys: readonly string[]; amounts: readonly number[] },
): Promise<void> {
  if (charge.keys.length === 0) return;
  await runScript(redis, { body: GIVE_BACK, sha: giveBackSha }, charge.keys, charge.amounts);
}
