import { redisKeys } from '@toolplane/contracts';
import type { RedisConnectionLike } from './redis-forms.ts';

/** Services of one deployment disagree on REDIS_QUEUE_SHARDS: a startup refusal naming both counts. */
export class QueueLayoutError extends Error {
  override name = 'QueueLayoutError';
}

/**
 * Startup check of the tool-call queue's layout: records `shards` as this deployment's shard count unless one is
 * recorded already, and refuses another count. Without it an edge with more shards than its workers would put
 * calls on queues nobody reads (they would end at their deadline), and workers with more would idle on some.
 */
export async function checkQueueLayout(redis: RedisConnectionLike, prefix: string, shards: number): Promise<void> {
  const key = redisKeys(prefix).queueLayout;
  await redis.set(key, String(shards), 'NX');
  const recorded = await redis.get(key);
  if (recorded !== null && recorded !== String(shards))
    throw new QueueLayoutError(
      `REDIS_QUEUE_SHARDS is ${shards} here but this deployment's tool-call queue has ${recorded} shards ` +
        `(${key}, set by the first edge or worker to start): set the same value on every edge and worker. ` +
        'To change it, drain the queue first (docs/operations.md, "Changing the queue shards").',
    );
}
