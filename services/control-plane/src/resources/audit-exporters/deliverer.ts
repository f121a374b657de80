import { randomUUID } from 'node:crypto';
import type { AuditExportTarget } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import { auditEventOf } from '../../db/audit-trail.ts';
import type { Db } from '../../db/client.ts';
import type { AuditExportCursor as Cursor, AuditExporter as Exporter } from '../../generated/prisma/client.ts';
import type { StoredTarget } from './handlers.ts';

/**
 * The audit exporters' deliverer (ADR 0065): PostgreSQL is the log. Each exporter keeps a cursor per chain (the last
 * `seq` its receiver acknowledged); every `pollMs` the deliverer takes each due cursor's lease (a row lease with an
 * expiry: one deliverer per cursor across replicas), sends the events after it in `seq` order, a batch at a time,
 * through a worker (`audit.export`: the control plane connects to no receiver and reads no secret), and moves the
 * cursor only once the batch was acknowledged. A failure leaves the cursor where it is and waits (doubling, capped);
 * an event the receiver refuses for good is sent alone, and after `maxAttempts` becomes a dead letter the cursor
 * moves past. Cursors are sent independently (up to `LANES` at once): a receiver that hangs delays only its own
 * exporter. Nothing here runs on a management request's path.
 */

export interface DelivererOptions {
  db: Db;
  tasks: DataPlaneTaskClient;
  log: Logger;
  pollMs: number;
  batch: number;
  retryMaxMs: number;
  maxAttempts: number;
}

type Attempt = { ok: true } | { ok: false; permanent: boolean; error: string };

/** How long one batch may take at a worker, and how long a lease outlives its holder's last renewal. */
const TASK_TIMEOUT_MS = 15_000;
const LEASE_MS = 60_000;
/** Batches per cursor in one round: a long backlog is sent in rounds, so every exporter gets its turn. */
const BATCHES_PER_ROUND = 20;
/**
 * Cursors sent at once: a receiver that hangs (its batch waits for the task's timeout) holds up its own lane, not the
 * other exporters' delivery. A lane holds a database connection (of the pool the API shares) only for its short
 * queries, never while it waits for a worker.
 */
const LANES = 4;

/** What the worker is told to send to: the stored target with the sealed value's name. */
function taskTarget(exporter: Exporter): AuditExportTarget | undefined {
  const t = exporter.target as StoredTarget;
  if (t.type === 'syslog') return t;
  if (!exporter.secretName) return undefined;
  return t.type === 'splunk_hec'
    ? { ...t, tokenSecret: exporter.secretName }
    : { ...t, hmacSecret: exporter.secretName };
}

export class AuditExportDeliverer {
  private readonly o: DelivererOptions;
  private readonly holder = `control-plane-${randomUUID()}`;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  /** The cursors being sent (`exporter/chain`), each until its last batch of the round settled. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(o: DelivererOptions) {
    this.o = o;
  }

  start(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round;
    await Promise.all(this.inFlight.values());
    // Another replica takes over at once rather than after the lease's expiry.
    await this.o.db.auditExportCursor
      .updateMany({ where: { leaseHolder: this.holder }, data: { leaseHolder: null, leaseUntil: null } })
      .catch(() => undefined);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.round = this.deliverDue()
        .catch((err: unknown) => this.o.log.error({ err }, 'audit export round failed'))
        .finally(() => this.schedule());
    }, this.o.pollMs);
    this.timer.unref();
  }

  /**
   * One round: every cursor of an enabled exporter whose wait is over and that is not being sent already, if its lease
   * is ours, while fewer than `LANES` are in flight. The round does not wait for them: a cursor whose receiver hangs
   * keeps its lane until its batch times out, and the next rounds go on sending the others.
   */
  async deliverDue(): Promise<void> {
    const now = new Date();
    const due = await this.o.db.auditExportCursor.findMany({
      where: { exporter: { enabled: true }, OR: [{ nextAttemptAt: null }, { nextAttemptAt: { lte: now } }] },
      include: { exporter: true },
    });
    for (const { exporter, ...cursor } of due) {
      const key = `${cursor.exporterId}/${cursor.chain}`;
      if (this.stopped || this.inFlight.size >= LANES) return;
      if (this.inFlight.has(key)) continue;
      const sending = (async () => {
        if (await this.lease(cursor)) await this.deliverCursor(exporter, cursor);
      })()
        .catch((err: unknown) => this.o.log.error({ err, exporter: exporter.id }, 'audit export failed'))
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, sending);
    }
  }

  /** Takes or renews the cursor's lease: free, expired or already ours. */
  private async lease(c: Cursor): Promise<boolean> {
    const taken = await this.o.db.$executeRaw`
      UPDATE audit_export_cursors
         SET lease_holder = ${this.holder}, lease_until = now() + make_interval(secs => ${LEASE_MS / 1000})
       WHERE exporter_id = ${c.exporterId}::uuid AND chain = ${c.chain}
         AND (lease_holder IS NULL OR lease_holder = ${this.holder} OR lease_until < now())`;
    return taken === 1;
  }

  private async deliverCursor(exporter: Exporter, start: Cursor): Promise<void> {
    let cursor = start;
    for (let i = 0; i < BATCHES_PER_ROUND && !this.stopped; i++) {
      const take = cursor.single ? 1 : this.o.batch;
      const rows = await this.o.db.auditEvent.findMany({
        where: { chain: cursor.chain, seq: { gt: cursor.seq } },
        orderBy: { seq: 'asc' },
        take,
      });
      if (rows.length === 0) return;
      const events = rows.map(auditEventOf);
      const attempt = await this.send(exporter, events);
      const next = await this.settle(exporter, cursor, events, attempt);
      if (!next || rows.length < take) return;
      cursor = next;
    }
  }

  private async send(exporter: Exporter, events: ReturnType<typeof auditEventOf>[]): Promise<Attempt> {
    const target = taskTarget(exporter);
    if (!target) return { ok: false, permanent: false, error: 'the exporter has no sealed token or key' };
    try {
      const r = await this.o.tasks.exportAudit({
        v: 1,
        taskId: randomUUID(),
        kind: 'audit.export',
        workspaceId: exporter.workspaceId,
        target,
        events: events as unknown as Record<string, unknown>[],
        deadlineAt: Date.now() + TASK_TIMEOUT_MS,
        replyTo: this.o.tasks.clientId,
      });
      return r.ok ? { ok: true } : { ok: false, permanent: r.permanent === true, error: r.error ?? 'failed' };
    } catch (err) {
      return { ok: false, permanent: false, error: `no worker delivered it: ${(err as Error).message}` };
    }
  }

  /** Moves the cursor after an acknowledged batch, or notes the failure; the cursor as it is now (undefined: wait). */
  private async settle(
    exporter: Exporter,
    cursor: Cursor,
    events: { id: string; seq: number }[],
    attempt: Attempt,
  ): Promise<Cursor | undefined> {
    const where = { exporterId_chain: { exporterId: cursor.exporterId, chain: cursor.chain } };
    const { db, log } = this.o;
    if (attempt.ok) {
      const seq = events.at(-1)!.seq;
      log.debug({ exporter: exporter.id, chain: cursor.chain, seq, count: events.length }, 'audit events exported');
      const data = {
        seq,
        attempts: 0,
        single: false,
        failingSince: null,
        nextAttemptAt: null,
        lastDeliveredAt: new Date(),
      };
      return db.auditExportCursor.update({ where, data });
    }
    const failed = {
      lastError: attempt.error,
      lastErrorAt: new Date(),
      failingSince: cursor.failingSince ?? new Date(),
    };
    // A batch refused for what it holds: its events go one by one until the refused one is found.
    if (attempt.permanent && events.length > 1)
      return db.auditExportCursor.update({ where, data: { ...failed, single: true } });
    const attempts = cursor.attempts + 1;
    if (attempt.permanent && attempts >= this.o.maxAttempts) {
      const [event] = events;
      log.warn({ exporter: exporter.id, seq: event!.seq, error: attempt.error }, 'audit event dead-lettered');
      const moved = await db.$transaction(async (tx) => {
        await tx.auditExportDeadLetter.create({
          data: {
            exporterId: exporter.id,
            chain: cursor.chain,
            seq: event!.seq,
            eventId: event!.id,
            error: attempt.error,
            attempts,
          },
        });
        return tx.auditExportCursor.update({ where, data: { ...failed, seq: event!.seq, attempts: 0, single: false } });
      });
      return moved;
    }
    const waitMs = Math.min(this.o.retryMaxMs, 1000 * 2 ** Math.min(attempts - 1, 20));
    log.warn({ exporter: exporter.id, chain: cursor.chain, attempts, error: attempt.error }, 'audit export failed');
    await db.auditExportCursor.update({
      where,
      data: { ...failed, attempts, nextAttemptAt: new Date(Date.now() + waitMs) },
    });
    return undefined;
  }
}
