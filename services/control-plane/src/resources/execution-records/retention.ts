import type pg from 'pg';
import { changeInBatches, RETENTION_BATCH_ROWS } from '../../db/batched.ts';

/**
 * Retention: records older than `recordsDays` are deleted; debug captures (bodies) older than
 * `debugHours` are dropped from the records that kept them; ended debug sessions older than
 * `recordsDays` are deleted, and so are the rollup's minutes (stats/rollup.ts) and the usage rollup's days before
 * that day (usage/rollup.ts). Each in batches of `batchRows` rows per statement (db/batched.ts). `now` is injectable
 * for tests.
 */
export async function applyRetention(
  pool: pg.Pool,
  opts: { now: Date; recordsDays: number; debugHours: number; batchRows?: number },
): Promise<{ records: number; captures: number; sessions: number; statsMinutes: number }> {
  const recordsBefore = new Date(opts.now.getTime() - opts.recordsDays * 86_400_000).toISOString();
  const debugBefore = new Date(opts.now.getTime() - opts.debugHours * 3_600_000).toISOString();
  const batchRows = opts.batchRows ?? RETENTION_BATCH_ROWS;
  const change = (statement: { table: string; where: string; set?: string }, before: string) =>
    changeInBatches(pool, statement, [before], batchRows);
  const records = await change({ table: 'execution_records', where: 'started_at < $1::timestamp(3)' }, recordsBefore);
  const captures = await change(
    { table: 'execution_records', set: 'debug = NULL', where: 'debug IS NOT NULL AND started_at < $1::timestamp(3)' },
    debugBefore,
  );
  const sessions = await change({ table: 'debug_sessions', where: 'ends_at < $1::timestamp(3)' }, recordsBefore);
  // The traffic rollup is kept as long as the records it sums.
  const minutes = await change({ table: 'execution_stats_minutes', where: 'minute < $1::timestamp(3)' }, recordsBefore);
  await change({ table: 'execution_stats_ten_minutes', where: 'minute < $1::timestamp(3)' }, recordsBefore);
  // Usage is kept per whole day: a day goes once all of it is older than the records kept.
  await change({ table: 'usage_days', where: 'day < ($1::timestamp(3))::date' }, recordsBefore);
  return { records, captures, sessions, statsMinutes: minutes };
}
