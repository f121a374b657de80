import type pg from 'pg';

/**
 * Retention: records older than `recordsDays` are deleted; debug captures (bodies) older than
 * `debugHours` are dropped from the records that kept them; ended debug sessions older than
 * `recordsDays` are deleted, and so are the rollup's minutes (stats/rollup.ts) and the usage rollup's days before
 * that day (usage/rollup.ts). `now` is injectable for tests.
 */
export async function applyRetention(
  pool: pg.Pool,
  opts: { now: Date; recordsDays: number; debugHours: number },
): Promise<{ records: number; captures: number; sessions: number; statsMinutes: number }> {
  const recordsBefore = new Date(opts.now.getTime() - opts.recordsDays * 86_400_000).toISOString();
  const debugBefore = new Date(opts.now.getTime() - opts.debugHours * 3_600_000).toISOString();
  const records = await pool.query('DELETE FROM execution_records WHERE started_at < $1::timestamp(3)', [
    recordsBefore,
  ]);
  const captures = await pool.query(
    'UPDATE execution_records SET debug = NULL WHERE debug IS NOT NULL AND started_at < $1::timestamp(3)',
    [debugBefore],
  );
  const sessions = await pool.query('DELETE FROM debug_sessions WHERE ends_at < $1::timestamp(3)', [recordsBefore]);
  // The traffic rollup is kept as long as the records it sums.
  const minutes = await pool.query('DELETE FROM execution_stats_minutes WHERE minute < $1::timestamp(3)', [
    recordsBefore,
  ]);
  await pool.query('DELETE FROM execution_stats_ten_minutes WHERE minute < $1::timestamp(3)', [recordsBefore]);
  // Usage is kept per whole day: a day goes once all of it is older than the records kept.
  await pool.query('DELETE FROM usage_days WHERE day < ($1::timestamp(3))::date', [recordsBefore]);
  return {
    records: records.rowCount ?? 0,
    captures: captures.rowCount ?? 0,
    sessions: sessions.rowCount ?? 0,
    statsMinutes: minutes.rowCount ?? 0,
  };
}
