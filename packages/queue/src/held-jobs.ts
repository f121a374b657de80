import { queueNames } from '@toolplane/contracts';
import { Job, Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { queueStreams } from './reply-channel.ts';

/**
 * A held call's job (a task waiting for someone else's approval, ADR 0049) is moved from delayed to waiting once its
 * request is decided, so that its worker settles the task now rather than at the request's expiry. False when there
 * was nothing to promote: the job ran already, is gone, or was promoted by someone else (each is fine: the job reads
 * the request's state when it starts).
 */
export async function promoteHeldJob(redis: Redis | Cluster, queuePrefix: string, jobId: string): Promise<boolean> {
  const queue = new Queue(queueNames.toolInvocations, {
    connection: redis,
    prefix: queuePrefix,
    streams: queueStreams,
  });
  queue.on('error', () => undefined);
  try {
    const job = await Job.fromId(queue, jobId);
    if (!job || !(await job.isDelayed())) return false;
    await job.promote();
    return true;
  } catch (err) {
    // Promoted or started meanwhile: not in the delayed set any more.
    if (/not in the delayed state|Missing key/i.test(String((err as Error).message))) return false;
    throw err;
  } finally {
    await queue.close();
  }
}
