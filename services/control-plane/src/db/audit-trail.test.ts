import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuditChainVerifier } from '@toolplane/client/audit-chain';
import type { AuditEvent, AuditEventInput } from '@toolplane/contracts';
import pg from 'pg';
import { applyAuditRetention, auditEventOf, AuditTrail } from './audit-trail.ts';
import { createDb, type Db } from './client.ts';
import { migratedTestDatabase } from './test-database.ts';

let db: Db;
let pool: pg.Pool;
let trail: AuditTrail;
const committed: AuditEvent[] = [];

function input(workspaceId: string, at: Date, action = 'server.update'): AuditEventInput {
  return {
    id: randomUUID(),
    at: at.toISOString(),
    workspaceId,
    actor: { type: 'api_key', id: 'k', name: 'ops' },
    action,
    resource: { type: 'server', id: 's' },
    outcome: 'success',
    status: 200,
    source: { requestId: null, traceId: null, clientAddress: null, userAgent: null },
    changes: { name: { before: 'a', after: 'b' } },
    details: { note: undefined, kept: 1 } as Record<string, unknown>,
  };
}

async function chainOf(workspaceId: string): Promise<AuditEvent[]> {
  return (await db.auditEvent.findMany({ where: { chain: workspaceId }, orderBy: { seq: 'asc' } })).map(auditEventOf);
}

beforeAll(async () => {
  const url = await migratedTestDatabase('audit_trail');
  db = createDb(url);
  pool = new pg.Pool({ connectionString: url, max: 2 });
  trail = new AuditTrail(db, (e) => committed.push(e));
});

afterAll(async () => {
  await db?.$disconnect();
  await pool?.end();
});

describe('the audit trail in PostgreSQL', () => {
  it('links events appended at once into one gapless chain per workspace, each as stored', async () => {
    const ws = randomUUID();
    const other = randomUUID();
    await Promise.all(
      Array.from({ length: 24 }, (_, i) => trail.appendAlone(input(i % 3 === 0 ? other : ws, new Date()))),
    );
    const events = await chainOf(ws);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect((await chainOf(other)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const verifier = new AuditChainVerifier();
    expect(events.map((e) => verifier.next(e)).filter(Boolean)).toEqual([]);
    // What was hashed is what PostgreSQL gives back (an undefined detail is not kept), and what `committed` heard.
    expect(events[0]!.details).toEqual({ kept: 1 });
    expect(committed.filter((e) => e.chain === ws).sort((a, b) => a.seq - b.seq)).toEqual(events);
  });

  it('appends an event delivered twice (a stream redelivery) once', async () => {
    const ws = randomUUID();
    const event = input(ws, new Date());
    expect(await trail.appendAlone(event)).toBeDefined();
    expect(await trail.appendAlone(event)).toBeUndefined();
    expect(await chainOf(ws)).toHaveLength(1);
  });

  it('refuses updates and deletions; the retention deletes old events but each chain’s last', async () => {
    const ws = randomUUID();
    const old = new Date(Date.now() - 400 * 86_400_000);
    for (let i = 0; i < 3; i++) await trail.appendAlone(input(ws, old));
    const quiet = randomUUID(); // a workspace whose every event is old: its last one stays
    await trail.appendAlone(input(quiet, old));
    await trail.appendAlone(input(ws, new Date()));
    await expect(pool.query(`UPDATE audit_events SET action = 'x' WHERE chain = $1`, [ws])).rejects.toThrow(
      'append-only',
    );
    await expect(pool.query(`DELETE FROM audit_events WHERE chain = $1`, [ws])).rejects.toThrow('append-only');

    // Two events a batch: the pass goes on until a batch finds fewer.
    expect(await applyAuditRetention(pool, new Date(), 365, 2)).toBeGreaterThanOrEqual(3);
    expect((await chainOf(ws)).map((e) => e.seq)).toEqual([4]);
    expect((await chainOf(quiet)).map((e) => e.seq)).toEqual([1]);
    // The chain goes on from the event kept; a reader starting there verifies it.
    await trail.appendAlone(input(ws, new Date()));
    const verifier = new AuditChainVerifier();
    expect((await chainOf(ws)).map((e) => verifier.next(e)).filter(Boolean)).toEqual([]);
    // The retention's setting allows nothing newer than its cutoff.
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('toolplane.audit_retention', $1, true)`, [old.toISOString()]);
      await expect(client.query(`DELETE FROM audit_events WHERE chain = $1`, [ws])).rejects.toThrow('append-only');
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});
