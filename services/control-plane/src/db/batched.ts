import type pg from 'pg';

/**
 * Rows per statement of the retention's deletes (ADR 0105): each batch is its own statement and transaction, so that a
 * pass over millions of rows never holds one transaction (its row locks, the WAL it writes at once, what vacuum must
 * keep for it) longer than a batch. `pnpm bench:retention` measures what a concurrent record insert and audit append
 * wait meanwhile.
 */
export const RETENTION_BATCH_ROWS = 5_000;

/** `LIMIT` of a batch: `Infinity` is every row in one statement (what `bench:retention --batch-rows all` compares). */
const limitOf = (rows: number) => (Number.isFinite(rows) ? String(Math.max(1, Math.floor(rows))) : 'ALL');

/**
 * Runs `batch` (given the `LIMIT` of one batch, answers the rows it changed) until a batch changes fewer than
 * `batchRows`. Answers the rows changed in all.
 */
export async function inBatches(batchRows: number, batch: (limit: string) => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await batch(limitOf(batchRows));
    total += rows;
    if (!Number.isFinite(batchRows) || rows < batchRows) return total;
  }
}

/**
 * `UPDATE table SET <set> WHERE <where>` or (no `set`) `DELETE FROM table WHERE <where>`, `batchRows` rows per
 * statement: each statement picks its rows by their physical address (`ctid`) from a `LIMIT`ed select of `where`.
 * `table`, `set` and `where` are the caller's SQL (never input); `params` are `where`'s.
 */
export function changeInBatches(
  pool: pg.Pool,
  statement: { table: string; where: string; set?: string },
  params: unknown[],
  batchRows: number,
): Promise<number> {
  const { table, where, set } = statement;
  const head = set ? `UPDATE ${table} SET ${set}` : `DELETE FROM ${table}`;
  return inBatches(batchRows, async (limit) => {
    const result = await pool.query(
      `${head} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${where} LIMIT ${limit}))`,
      params,
    );
    return result.rowCount ?? 0;
  });
}
