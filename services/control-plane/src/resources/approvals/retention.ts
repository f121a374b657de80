import type pg from 'pg';
import { changeInBatches, RETENTION_BATCH_ROWS } from '../../db/batched.ts';

/**
 * Retention of approval requests: a request that ended more than `days` ago is deleted. It ended when it was denied
 * (its decision), executed (its approval spent) or expired (its expiry; a pending or granted row past its expiry is
 * expired whether found so or not). A request still waiting, or granted and not yet past its expiry, is never deleted:
 * the cutoff lies before now. In batches of `batchRows` rows (db/batched.ts). `now` is injectable for tests.
 */
export function applyApprovalsRetention(
  pool: pg.Pool,
  now: Date,
  days: number,
  batchRows = RETENTION_BATCH_ROWS,
): Promise<number> {
  const cutoff = new Date(now.getTime() - days * 86_400_000).toISOString();
  const where = `CASE state
              WHEN 'executed' THEN COALESCE(executed_at, expires_at)
              WHEN 'denied' THEN COALESCE(decided_at, expires_at)
              ELSE expires_at
            END < $1::timestamp(3)`;
  return changeInBatches(pool, { table: 'approvals', where }, [cutoff], batchRows);
}
