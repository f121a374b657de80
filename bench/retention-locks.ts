// bench/retention-locks: what a call's record insert and an audit append wait while retention runs, at a size.
// Fills one database (records over 60 days: half past `RECORDS_RETENTION_DAYS`' 30; one workspace's audit chain over
// 730 days: half past `AUDIT_RETENTION_DAYS`' 365), then for each arm copies it (`CREATE DATABASE … TEMPLATE`) and runs
// the control plane's retention there (`applyRetention` and `applyAuditRetention` side by side, as app.ts runs them)
// with that arm's rows per statement, while two probes write one row each, one after the other, without pause: a
// record as the records store inserts it, an audit event as `appendAuditEvent` appends it (the chain's advisory lock,
// its last event, the insert, in one transaction). Reports each probe's latency before (2 s) and during retention.
//
//   pnpm bench:retention [--records 1000000] [--audit-events 1000000] [--arms all,5000,all,5000] [--out dir]
//
// An arm `all` deletes each table's rows in one statement (retention before ADR 0105); a number is the batch size.
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '@toolplane/cli';
import { startEmbeddedPostgres } from '@toolplane/embedded';
import pg from 'pg';
import { applyAuditRetention } from '../services/control-plane/src/db/audit-trail.ts';
import { applyRetention } from '../services/control-plane/src/resources/execution-records/retention.ts';
import { bulkRecords } from './scale-fill.ts';
import { commitMeasured } from './tool-call-report.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    'audit-events': { type: 'string', default: '1000000' },
    arms: { type: 'string', default: 'all,5000,all,5000' },
    /** The admin URL of a server that holds a `filled` database of an earlier run (killed mid-way): no new fill. */
    use: { type: 'string' },
    out: { type: 'string' },
  },
});
const stamp = new Date()
  .toISOString()
  .replace(/[-:]/g, '')
  .replace(/\.\d+Z$/, 'Z');
const outDir = values.out ?? join(repoRoot, 'bench', 'results', `${stamp}-retention`);
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

const dataDir = mkdtempSync(join(tmpdir(), 'retention-locks-'));
const used = values.use;
const handle = used
  ? { url: (db: string) => Object.assign(new URL(used), { pathname: `/${db}` }).toString(), stop: async () => {} }
  : await startEmbeddedPostgres({ dataDir: join(dataDir, 'pg') });
const { execSync } = await import('node:child_process');
let workspaceId: string = randomUUID();
let template: string = randomUUID();

/** The records (one template written as the records store writes it, and its bulk copies) and the audit chain. */
async function fill(pool: pg.Pool, records: number, events: number) {
  const steps = { steps: [{ id: 'http', status: 200, durationMs: 12.5 }], traceId: '4bf92f3577b34da6a3ce929d0e0e4736' };
  await pool.query(
    `INSERT INTO execution_records (id, workspace_id, server_id, catalog_version, tool, key_id, started_at,
       duration_ms, outcome, steps) VALUES ($1, $2, $3, 3, 'get_ticket', $4, now(), 12.5, 'success', $5)`,
    [template, workspaceId, randomUUID(), randomUUID(), JSON.stringify(steps)],
  );
  await bulkRecords(pool, { id: template }, records - 1, 60, ['get_ticket', 'list_tickets', 'create_ticket']);
  const step = (730 * 86_400) / events;
  for (let start = 1; start <= events; start += 100_000) {
    await pool.query(
      `INSERT INTO audit_events (id, chain, seq, workspace_id, at, at_floor, actor_type, actor_id, actor_name, action,
         resource_type, resource_id, outcome, status, request_id, changes, details, prev_hash, hash)
       SELECT gen_random_uuid(), $1::text, g, $1::uuid, t, t - interval '1 minute', 'api_key', 'k', 'deploy-bot',
         'server.update', 'server', gen_random_uuid()::text, 'success', 200, gen_random_uuid()::text,
         '{"name":{"from":"a","to":"b"}}'::jsonb, NULL, repeat('0', 64), repeat('f', 64)
       FROM generate_series($2::int, $3::int) g,
         LATERAL (SELECT now() - make_interval(secs => ($4::int - g) * $5::float8) AS t) l`,
      [workspaceId, start, Math.min(events, start + 99_999), events, step],
    );
  }
  await pool.query('VACUUM ANALYZE');
}

/** One record insert (the records store's columns) and one audit append, each timed; loops until `stop()`. */
function probes(pool: pg.Pool) {
  const samples: { phase: string; probe: string; ms: number }[] = [];
  let phase = 'before';
  let running = true;
  const loop = async (probe: string, write: (client: pg.PoolClient) => Promise<void>) => {
    const client = await pool.connect();
    try {
      while (running) {
        const t0 = process.hrtime.bigint();
        await write(client);
        samples.push({ phase, probe, ms: ms(t0) });
      }
    } finally {
      client.release();
    }
  };
  const record = loop('record insert', async (c) => {
    await c.query(
      `INSERT INTO execution_records (id, workspace_id, server_id, catalog_version, tool, key_id, started_at,
         duration_ms, outcome, steps)
       SELECT $1, workspace_id, server_id, catalog_version, tool, key_id, now(), 12.5, 'success', steps
       FROM execution_records WHERE id = $2`,
      [randomUUID(), template],
    );
  });
  const audit = loop('audit append', async (c) => {
    await c.query('BEGIN');
    await c.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`audit:${workspaceId}`]);
    const last = await c.query<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_events WHERE chain = $1 ORDER BY seq DESC LIMIT 1',
      [workspaceId],
    );
    await c.query(
      `INSERT INTO audit_events (id, chain, seq, workspace_id, at, at_floor, actor_type, actor_name, action,
         resource_type, outcome, prev_hash, hash)
       VALUES ($1, $2, $3, $5::uuid, now(), now() - interval '1 minute', 'api_key', 'probe', 'server.update',
         'server', 'success', $4, repeat('e', 64))`,
      [randomUUID(), workspaceId, last.rows[0]!.seq + 1, last.rows[0]!.hash, workspaceId],
    );
    await c.query('COMMIT');
  });
  return {
    samples,
    during: () => (phase = 'during'),
    stop: async () => {
      running = false;
      await Promise.all([record, audit]);
    },
  };
}

/**
 * What the probes wait on, sampled every 20 ms: each lock wait of this database's sessions, with what holds it
 * (its statement or, for a background process, its kind: an autovacuum's truncation takes the table exclusively).
 */
function lockWaits(pool: pg.Pool) {
  const seen = new Map<string, number>();
  let running = true;
  const done = (async () => {
    const client = await pool.connect();
    try {
      while (running) {
        const waits = await client.query<{ waiting: string; holder: string }>(
          `SELECT left(a.query, 60) AS waiting, coalesce(string_agg(b.backend_type || ': ' || left(b.query, 60), '; '),
             '?') AS holder
           FROM pg_stat_activity a LEFT JOIN pg_stat_activity b ON b.pid = ANY(pg_blocking_pids(a.pid))
           WHERE a.wait_event_type = 'Lock' AND a.datname = current_database() GROUP BY a.pid, a.query`,
        );
        for (const w of waits.rows) {
          const key = `${w.waiting} <- ${w.holder}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      client.release();
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return Object.fromEntries(seen);
    },
  };
}

const quantile = (v: number[], q: number) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) * q)] ?? NaN;

function summary(samples: { phase: string; probe: string; ms: number }[]) {
  const out: Record<string, { n: number; p50: number; p99: number; max: number }> = {};
  for (const probe of ['record insert', 'audit append'])
    for (const phase of ['before', 'during']) {
      const v = samples.filter((s) => s.probe === probe && s.phase === phase).map((s) => s.ms);
      out[`${probe}, ${phase}`] = { n: v.length, p50: quantile(v, 0.5), p99: quantile(v, 0.99), max: Math.max(...v) };
    }
  return out;
}

/** A copy of the filled database: every arm starts from the same rows. */
async function copyOfFilled(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: handle.url('postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE filled`);
  } finally {
    await admin.end();
  }
}

async function arm(name: string, batchRows: number) {
  await copyOfFilled(name);
  const pool = new pg.Pool({ connectionString: handle.url(name), max: 8 });
  pool.on('error', () => undefined);
  try {
    const probe = probes(pool);
    const t0 = process.hrtime.bigint();
    while (ms(t0) < 2_000) await new Promise((r) => setTimeout(r, 100));
    probe.during();
    const waits = lockWaits(pool);
    const r0 = process.hrtime.bigint();
    const now = new Date();
    const [records, auditEvents] = await Promise.all([
      applyRetention(pool, { now, recordsDays: 30, debugHours: 72, batchRows }),
      applyAuditRetention(pool, now, 365, batchRows),
    ]);
    const retentionMs = ms(r0);
    await probe.stop();
    const lockWaitSamples = await waits.stop();
    return {
      arm: name,
      batchRows: Number.isFinite(batchRows) ? batchRows : 'all',
      retentionMs,
      records,
      auditEvents,
      probes: summary(probe.samples),
      lockWaitSamples,
    };
  } finally {
    await pool.end();
    const admin = new pg.Client({ connectionString: handle.url('postgres') });
    await admin.connect();
    await admin.query(`DROP DATABASE ${name}`).finally(() => admin.end());
  }
}

async function filled(): Promise<number> {
  if (used) {
    // The earlier run's workspace and template record.
    const pool = new pg.Pool({ connectionString: handle.url('filled'), max: 1 });
    workspaceId = (await pool.query<{ chain: string }>('SELECT chain FROM audit_events LIMIT 1')).rows[0]!.chain;
    template = (await pool.query<{ id: string }>('SELECT id FROM execution_records LIMIT 1')).rows[0]!.id;
    await pool.end();
    return NaN;
  }
  const admin = new pg.Client({ connectionString: handle.url('postgres') });
  await admin.connect();
  await admin.query('CREATE DATABASE filled').finally(() => admin.end());
  execSync('pnpm --filter @toolplane/control-plane exec prisma migrate deploy', {
    env: { ...process.env, DATABASE_URL: handle.url('filled') },
    stdio: 'ignore',
  });
  const fillPool = new pg.Pool({ connectionString: handle.url('filled'), max: 1 });
  const f0 = process.hrtime.bigint();
  await fill(fillPool, Number(values.records), Number(values['audit-events']));
  await fillPool.end();
  return ms(f0);
}

try {
  const fillMs = await filled();
  const arms = [];
  for (const [i, a] of values.arms.split(',').entries()) {
    const result = await arm(`arm${i}_${stamp.toLowerCase()}`, a === 'all' ? Infinity : Number(a));
    console.log(JSON.stringify(result));
    arms.push(result);
  }
  mkdirSync(outDir, { recursive: true });
  const result = {
    commit: commitMeasured(repoRoot),
    records: Number(values.records),
    auditEvents: Number(values['audit-events']),
    fillMs,
    arms,
  };
  writeFileSync(join(outDir, 'retention.json'), JSON.stringify(result, null, 2));
  console.log(`results: ${join(outDir, 'retention.json')}`);
} finally {
  await handle.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
