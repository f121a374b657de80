import { randomUUID } from 'node:crypto';
import {
  AUDIT_GENESIS_HASH,
  UNAUTHENTICATED_CHAIN,
  type AuditActor,
  type AuditEvent,
  type AuditEventInput,
  type AuditSource,
} from '@toolplane/contracts';
import { auditEventHash } from '@toolplane/client/audit-chain';
import type pg from 'pg';
import { Prisma } from '../generated/prisma/client.ts';
import { inBatches, RETENTION_BATCH_ROWS } from './batched.ts';
import type { Db, Tx } from './client.ts';

type Row = Prisma.AuditEventGetPayload<object>;

/** A stored event as the API shows it (and as its hash was computed). */
export function auditEventOf(row: Row): AuditEvent {
  return {
    id: row.id,
    chain: row.chain,
    seq: row.seq,
    at: row.at.toISOString(),
    workspaceId: row.workspaceId,
    actor: { type: row.actorType as AuditEvent['actor']['type'], id: row.actorId, name: row.actorName },
    action: row.action,
    resource: { type: row.resourceType, id: row.resourceId },
    outcome: row.outcome as AuditEvent['outcome'],
    status: row.status,
    source: {
      requestId: row.requestId,
      ...(row.clientRequestId !== null ? { clientRequestId: row.clientRequestId } : {}),
      traceId: row.traceId,
      clientAddress: row.clientAddress,
      userAgent: row.userAgent,
    },
    changes: (row.changes ?? null) as AuditEvent['changes'],
    details: (row.details ?? null) as AuditEvent['details'],
    prevHash: row.prevHash,
    hash: row.hash,
  };
}

function json(value: unknown): Prisma.InputJsonValue | typeof Prisma.DbNull {
  return value === null ? Prisma.DbNull : (value as Prisma.InputJsonValue);
}

/** The control plane's own actor: what it does by itself (a request expired, a change held, a webhook failed). */
export const systemActor: AuditActor = { type: 'system', id: null, name: 'toolplane' };

/** The source of an event no request led to. */
const noSource: AuditSource = { requestId: null, traceId: null, clientAddress: null, userAgent: null };

/**
 * An event the control plane records by itself (`systemActor`), with no status and no changes: now unless `at`,
 * `success` unless `outcome`, `noSource` unless a request led to it (`source`).
 */
export function systemEvent(e: {
  workspaceId: string | null;
  action: string;
  resource: { type: string; id: string };
  details: Record<string, unknown>;
  at?: string;
  outcome?: AuditEventInput['outcome'];
  source?: AuditSource;
}): AuditEventInput {
  return {
    id: randomUUID(),
    at: e.at ?? new Date().toISOString(),
    workspaceId: e.workspaceId,
    actor: systemActor,
    action: e.action,
    resource: e.resource,
    outcome: e.outcome ?? 'success',
    status: null,
    source: e.source ?? noSource,
    changes: null,
    details: e.details,
  };
}

/** Appends an event the control plane records by itself (`systemEvent`), in `tx`. */
export const appendSystemEvent = (tx: Tx, event: Parameters<typeof systemEvent>[0]) =>
  appendAuditEvent(tx, systemEvent(event));

/**
 * How far behind its chain's latest `at` an event may be appended and still count as in time order (ADR 0105): the
 * time bounds of `GET /audit_events` read the events of this last stretch of time for nothing, and find the ones
 * appended later than that through their own index. The migration `20261129120000_audit_time_bounds` says the same.
 */
export const AUDIT_LATE_AFTER_MS = 60_000;

/**
 * Appends one event to its workspace's chain, in the caller's transaction: the change and its event commit together
 * or not at all. Chains are serialised by a transaction-scoped advisory lock, taken here: append as the transaction's
 * last statement so that the lock is held only until the commit. An event whose id is stored already (a stream
 * delivered it again) is not appended twice: undefined.
 */
export async function appendAuditEvent(tx: Tx, input: AuditEventInput): Promise<AuditEvent | undefined> {
  const chain = input.workspaceId ?? UNAUTHENTICATED_CHAIN;
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`audit:${chain}`}, 0))`;
  if (await tx.auditEvent.findUnique({ where: { id: input.id }, select: { id: true } })) return undefined;
  const last = await tx.auditEvent.findFirst({
    where: { chain },
    orderBy: { seq: 'desc' },
    select: { seq: true, hash: true, atFloor: true },
  });
  // Hashed as stored: plain JSON (no undefined, dates as strings), the form JSONB gives back.
  const stored = JSON.parse(JSON.stringify(input)) as AuditEventInput;
  const unhashed = {
    ...stored,
    changes: stored.changes ?? null,
    details: stored.details ?? null,
    chain,
    seq: (last?.seq ?? 0) + 1,
    prevHash: last?.hash ?? AUDIT_GENESIS_HASH,
  };
  const event: AuditEvent = { ...unhashed, hash: auditEventHash(unhashed) };
  const at = new Date(event.at);
  const floor = new Date(at.getTime() - AUDIT_LATE_AFTER_MS);
  await tx.auditEvent.create({
    data: {
      id: event.id,
      chain,
      seq: event.seq,
      workspaceId: event.workspaceId,
      at,
      // Not hashed: what the trail's time bounds read (ADR 0105), derived from the chain's own `at`s.
      atFloor: last && last.atFloor > floor ? last.atFloor : floor,
      actorType: event.actor.type,
      actorId: event.actor.id,
      actorName: event.actor.name,
      action: event.action,
      resourceType: event.resource.type,
      resourceId: event.resource.id,
      outcome: event.outcome,
      status: event.status,
      requestId: event.source.requestId,
      clientRequestId: event.source.clientRequestId ?? null,
      traceId: event.source.traceId,
      clientAddress: event.source.clientAddress,
      userAgent: event.source.userAgent,
      changes: json(event.changes),
      details: json(event.details),
      prevHash: event.prevHash,
      hash: event.hash,
    },
  });
  return event;
}

/**
 * An event that goes with no change in PostgreSQL (a refusal, a secret's change, a stream's event), or with the one
 * `change` makes first: its own transaction. Events of one chain are appended one after the other (its lock), so a
 * burst waits: for a connection of the pool (`maxWait`) and, inside, for the chain (`timeout`); Prisma's defaults (2 s
 * and 5 s) failed a burst of 24 on a loaded host.
 */
function appendAuditEventAlone(
  db: Db,
  input: AuditEventInput,
  change?: (tx: Tx) => Promise<void>,
): Promise<AuditEvent | undefined> {
  return db.$transaction(
    async (tx) => {
      if (change) await change(tx);
      return appendAuditEvent(tx, input);
    },
    { maxWait: 15_000, timeout: 20_000 },
  );
}

/**
 * Retention: events older than `days` go, except each chain's last (the next event links to it, and a chain emptied
 * by retention would start again at 1). The only deletion the table's trigger allows: it checks the cutoff itself.
 * In batches of `batchRows` events (db/batched.ts), each in a transaction of its own that allows the deletion. "Not
 * the chain's last" is "a later event exists", one step of the `(chain, seq)` index: a `max(seq)` per event walked
 * back over every event appended since the statement began, minutes per batch under concurrent appends.
 */
export async function applyAuditRetention(
  pool: pg.Pool,
  now: Date,
  days: number,
  batchRows = RETENTION_BATCH_ROWS,
): Promise<number> {
  const cutoff = new Date(now.getTime() - days * 86_400_000).toISOString();
  return inBatches(batchRows, async (limit) => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('toolplane.audit_retention', $1, true)`, [cutoff]);
      const deleted = await client.query(
        `DELETE FROM audit_events WHERE ctid = ANY(ARRAY(
           SELECT e.ctid FROM audit_events e WHERE e.at < $1::timestamptz
              AND EXISTS (SELECT 1 FROM audit_events l WHERE l.chain = e.chain AND l.seq > e.seq)
            LIMIT ${limit}))`,
        [cutoff],
      );
      await client.query('COMMIT');
      return deleted.rowCount ?? 0;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  });
}

/**
 * The trail's writer for events that go with no change in PostgreSQL, and what hears each committed event (the
 * service log and an OpenTelemetry log record: `committed`).
 */
export class AuditTrail {
  private readonly db: Db;
  readonly committed: (event: AuditEvent) => void;

  constructor(db: Db, committed: (event: AuditEvent) => void) {
    this.db = db;
    this.committed = committed;
  }

  /** Appends `input`, with the row change it brings (`change`, idempotent: a stream may deliver an event twice). */
  async appendAlone(input: AuditEventInput, change?: (tx: Tx) => Promise<void>): Promise<AuditEvent | undefined> {
    const event = await appendAuditEventAlone(this.db, input, change);
    if (event) this.committed(event);
    return event;
  }
}
