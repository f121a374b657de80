// What storing execution records costs PostgreSQL and the control plane's process, per record, with nothing else
// running on the stack: batches of `--batch` records (as the control plane takes them from the workers' stream)
// stored `--batches` times through `storeExecutionRecords`, each process's CPU read from /proc before and after.
//   node --conditions=@toolplane/source bench/records-store.ts [--batch 125] [--batches 200] [--rounds 3]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbeddedPostgres } from '@toolplane/embedded';
import pg from 'pg';
import {
  storeExecutionRecords,
  storeRawExecutionRecords,
} from '../services/control-plane/src/resources/execution-records/store.ts';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '125' },
    batches: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    'database-url': { type: 'string' },
    /** Store the entries' text as it is (`storeRawExecutionRecords`), not parsed and written again. */
    raw: { type: 'boolean', default: false },
    /** SQL run once before the rounds (to compare a schema change). */
    'setup-sql': { type: 'string' },
  },
});

const ticks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const p = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(p[11]) + Number(p[12]); // utime + stime
};
/** CPU ms of the PostgreSQL server `postmaster` and its children (backends, WAL writer, checkpointer…). */
function postgresMs(postmaster: number): number {
  let sum = ticks(postmaster);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(f.slice(f.lastIndexOf(')') + 2).split(' ')[1]) === postmaster) sum += ticks(Number(d));
    } catch {
      // gone
    }
  }
  return sum * 10;
}
const ownMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

let stop = async () => undefined as void;
let url = values['database-url'];
if (!url) {
  const handle = await startEmbeddedPostgres({ dataDir: join(mkdtempSync(join(tmpdir(), 'records-store-')), 'pg') });
  await handle.createDatabase('toolplane');
  url = handle.url('toolplane');
  stop = () => handle.stop();
  const { execSync } = await import('node:child_process');
  execSync('pnpm --filter @toolplane/control-plane exec prisma migrate deploy', {
    env: { ...process.env, DATABASE_URL: url },
    stdio: 'ignore',
  });
}
const pool = new pg.Pool({ connectionString: url, max: 1 });
const dataDirOf = await pool.query<{ d: string }>(`SELECT current_setting('data_directory') AS d`);
const postmaster = Number(readFileSync(join(dataDirOf.rows[0]!.d, 'postmaster.pid'), 'utf8').split('\n')[0]);
if (values['setup-sql']) await pool.query(values['setup-sql']);
const workspaceId = randomUUID();
const servers = [randomUUID(), randomUUID()];
const record = (i: number) => ({
  v: 1,
  invocationId: randomUUID(),
  workspaceId,
  serverId: servers[i % 2]!,
  catalogVersion: 3,
  tool: i % 3 === 0 ? 'get_ticket' : 'search_tickets',
  caller: { keyId: 'b6f1c1d0-3f1e-4c55-9c55-0d5d0c0e1a11' },
  startedAt: new Date().toISOString(),
  durationMs: 1.234,
  costUnits: 1,
  outcome: 'success',
  steps: [
    {
      kind: 'http',
      name: 'get_ticket',
      method: 'GET',
      urlTemplate: 'http://127.0.0.1:4010/tickets/{ticket_id}',
      url: `http://127.0.0.1:4010/tickets/T-${i}`,
      status: 200,
      outcome: 'response',
      durationMs: 0.8,
      attempt: 1,
    },
  ],
  sealedArguments: Buffer.alloc(160, i % 251).toString('base64'),
});
const batch = Number(values.batch);
const batches = Number(values.batches);
for (let round = 1; round <= Number(values.rounds); round++) {
  // Each batch as a worker's stream entry holds it: the JSON text of its records.
  const work = Array.from({ length: batches }, (_, b) =>
    JSON.stringify(Array.from({ length: batch }, (_, i) => record(b * batch + i))),
  );
  const [pg0, own0] = [postgresMs(postmaster), ownMs()];
  const t0 = performance.now();
  for (const entry of work) {
    if (values.raw) await storeRawExecutionRecords(pool, [entry]);
    else await storeExecutionRecords(pool, JSON.parse(entry) as never);
  }
  const wall = performance.now() - t0;
  const n = batch * batches;
  const [pgMs, own] = [postgresMs(postmaster) - pg0, ownMs() - own0];
  console.log(
    `round ${round}: ${n} records in ${batches} batches of ${batch}, ${(wall / 1000).toFixed(1)} s: ` +
      `PostgreSQL ${((pgMs / n) * 1000).toFixed(1)} µs, this process ${((own / n) * 1000).toFixed(1)} µs per record`,
  );
}
await pool.end();
await stop();
