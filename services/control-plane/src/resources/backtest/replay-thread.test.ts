import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { WorkspaceAccess } from '@toolplane/contracts';
import { createLogger } from '@toolplane/logger';
import pg from 'pg';
import { createDb, type Db } from '../../db/client.ts';
import { migratedTestDatabase } from '../../db/test-database.ts';
import {
  APPLICATION_NAME,
  pacedSource,
  replayOffThread,
  replayThreads,
  THREAD_NAME,
  type ReplayJob,
} from './replay-thread.ts';

/**
 * The backtest's replay thread (ADR 0080, addendum) on a real PostgreSQL: it runs at nice 19 while every other thread
 * of the process keeps its priority; a cancelled backtest ends its thread even while its read waits, and its connection
 * goes; a finished one leaves neither behind; a failure in the thread is the request's error, as the main thread's was.
 */

let url: string;
let db: Db;
let admin: pg.Client;
let job: ReplayJob;
const log = createLogger({ service: 'replay-thread-test', level: 'silent' });

/** Each thread of this process: its name and nice value (`/proc/self/task/<tid>/stat`, field 19). */
function threads(): { tid: string; name: string; nice: number }[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3 (state) on
      return [{ tid, name, nice: Number(fields[19 - 3]) }];
    } catch {
      return []; // a thread that ended meanwhile
    }
  });
}

/** The replay thread's connections to the test database, with what each waits on. */
async function connections(): Promise<{ wait_event_type: string | null }[]> {
  const r = await admin.query<{ wait_event_type: string | null }>(
    'SELECT wait_event_type FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()',
    [APPLICATION_NAME],
  );
  return r.rows;
}

/** Polls until `probe` holds (jest's timeout is the failure detector: no deadline of its own). */
async function until(probe: () => Promise<boolean>): Promise<void> {
  while (!(await probe())) await new Promise((r) => setTimeout(r, 20));
}

beforeAll(async () => {
  url = await migratedTestDatabase('backtest_thread');
  db = createDb(url);
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const org = await db.organization.create({ data: { name: `o-${randomUUID()}` } });
  const workspaceId = (await db.workspace.create({ data: { organizationId: org.id, name: 'w' } })).id;
  const access: WorkspaceAccess = { v: 1, workspaceId, policies: [] };
  const rules = { access, guardrails: [], confirmTools: new Map(), approvalTools: new Map() };
  job = {
    databaseUrl: url,
    key: {},
    workspaceId,
    period: { from: new Date(Date.now() - 86_400_000), to: new Date() },
    rules: { current: rules, proposed: rules },
    maxCalls: 1000,
  };
});

afterAll(async () => {
  await admin?.end();
  await db?.$disconnect();
});

describe('the backtest replay thread', () => {
  it('runs at nice 19, the process’s other threads keep theirs; cancelled, it ends while its read waits', async () => {
    const mainNice = getPriority(0);
    // The records' table locked: the thread's first page waits on it (a slow read held still).
    const lock = new pg.Client({ connectionString: url });
    await lock.connect();
    await lock.query('BEGIN');
    await lock.query('LOCK TABLE execution_records IN ACCESS EXCLUSIVE MODE');
    try {
      const controller = new AbortController();
      const run = replayOffThread(job, { signal: controller.signal, log });
      let failed: unknown;
      run.catch((err: unknown) => (failed = err));
      await until(async () => {
        if (failed) throw failed;
        return (await connections()).some((c) => c.wait_event_type === 'Lock');
      });
      const during = threads();
      expect(during.filter((t) => t.name === THREAD_NAME).map((t) => t.nice)).toEqual([19]);
      expect(during.filter((t) => t.name !== THREAD_NAME && t.nice !== mainNice)).toEqual([]);
      expect(getPriority(0)).toBe(mainNice);
      expect(replayThreads()).toBe(1);

      controller.abort();
      const outcome = await run;
      expect(outcome).toMatchObject({ cancelled: true, replayed: 0 });
      // Ended while its read still waits on the lock: it could not have finished by itself.
      expect(replayThreads()).toBe(0);
      expect(threads().filter((t) => t.name === THREAD_NAME)).toEqual([]);
    } finally {
      await lock.query('ROLLBACK');
      await lock.end();
    }
    await until(async () => (await connections()).length === 0);
  });

  it('a finished replay answers and leaves no thread and no connection behind', async () => {
    const outcome = await replayOffThread(job, { log });
    expect(outcome).toMatchObject({ cancelled: false, replayed: 0, truncated: false });
    expect(outcome.changes.newlyRefused.calls).toBe(0);
    expect(replayThreads()).toBe(0);
    expect(await connections()).toEqual([]);
  });

  it('the thread’s failure is the request’s error, with what classifies it (a database that refuses)', async () => {
    const refused = new URL(url);
    refused.port = '9';
    const err = await replayOffThread({ ...job, databaseUrl: refused.toString() }, { log }).catch((e: unknown) => e);
    // What the error handler reads: Prisma's "cannot reach the database" (503, retry later), as in the main thread.
    expect(err).toMatchObject({ name: 'PrismaClientKnownRequestError', code: 'P1001' });
    expect(replayThreads()).toBe(0);
  });
});

describe('pacing between pages', () => {
  it('rests twice as long as it worked since its last rest, and passes the pages through unchanged', async () => {
    let clock = 0;
    const rests: number[] = [];
    const pages = [[{ id: 'a' }], [{ id: 'b' }], []] as never[];
    const asked: number[] = [];
    const source = pacedSource(
      {
        page: async (_after, limit) => {
          asked.push(limit);
          clock += 5; // the read
          return pages.shift()!;
        },
      },
      { restPerWork: 2, now: () => clock, rest: async (ms) => void rests.push(ms) },
    );
    clock += 10; // setting up before the first page
    expect(await source.page(undefined, 500)).toEqual([{ id: 'a' }]);
    clock += 20; // judging the first page
    expect(await source.page({ at: new Date(0), id: 'a' }, 500)).toEqual([{ id: 'b' }]);
    expect(await source.page({ at: new Date(0), id: 'b' }, 7)).toEqual([]);
    expect(rests).toEqual([20, 50, 10]);
    expect(asked).toEqual([500, 500, 7]);
  });
});
