import type { AuditEvent, AuditEventInput } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import { systemEvent, type AuditTrail } from '../db/audit-trail.ts';
import { WebhookAttempts, workerWebhookPost, type WebhookPost } from './webhook-attempts.ts';
import type { Db } from '../db/client.ts';
import { isUuid } from '../db/ids.ts';

/**
 * A quota's alert webhook (ADR 0048): each `quota.alert` event the control plane stores, of a quota with an
 * `alertWebhookUrl`, is POSTed there as JSON by a worker (`webhook.post`: the outbound guard, https only; the control
 * plane makes no request itself). Each attempt is bounded; a failed one is tried again after 1, 5 and 25 s; the last
 * failure is logged and recorded (`quota.alert_webhook_failed`). Nothing waits for a delivery: the event is stored
 * first, whatever becomes of it. Deliveries live in this process only: one under way when the control plane stops is
 * dropped, and one whose POST arrived but whose answer was lost is sent again (the body's `eventId` tells them apart).
 */

/** What the webhook receives. */
interface QuotaAlertBody {
  type: 'quota.alert';
  eventId: string;
  workspaceId: string | null;
  quota: { id: string; name: string };
  threshold: number;
  used: number;
  limit: number;
  counts: string;
  window: string | null;
  period: string;
  at: string;
}

export interface AlertWebhookDeps {
  /** The quota's webhook and window (null: the quota is gone). */
  quotaOf: (
    workspaceId: string,
    quotaId: string,
  ) => Promise<{ window: string | null; alertWebhookUrl: string | null } | null>;
  /** One POST, by a worker, answered by `deadlineAt`. */
  post: WebhookPost;
  /** Appends an event of the control plane's own to the trail. */
  record: (event: AuditEventInput) => Promise<unknown>;
  log: Logger;
  /** The waits before each attempt after the first (default 1, 5 and 25 s). */
  waitsMs?: readonly number[];
  /** How long one attempt may take, the worker's queue wait included (default 10 s). */
  attemptTimeoutMs?: number;
}

type Details = {
  quota?: { id?: unknown; name?: unknown; limit?: unknown; counts?: unknown };
  threshold?: unknown;
  used?: unknown;
  period?: unknown;
};

function bodyOf(event: AuditEvent, window: string | null): QuotaAlertBody | undefined {
  const d = (event.details ?? {}) as Details;
  const q = d.quota;
  if (typeof q?.id !== 'string' || typeof q.name !== 'string') return undefined;
  return {
    type: 'quota.alert',
    eventId: event.id,
    workspaceId: event.workspaceId,
    quota: { id: q.id, name: q.name },
    threshold: Number(d.threshold),
    used: Number(d.used),
    limit: Number(q.limit),
    counts: String(q.counts),
    window,
    period: String(d.period),
    at: event.at,
  };
}

export class AlertWebhooks {
  private readonly deps: AlertWebhookDeps;
  private readonly attempts: WebhookAttempts;

  constructor(deps: AlertWebhookDeps) {
    this.deps = deps;
    this.attempts = new WebhookAttempts(
      deps.post,
      deps.waitsMs ?? [1_000, 5_000, 25_000],
      deps.attemptTimeoutMs ?? 10_000,
    );
  }

  /** Starts delivering a stored event when it is a quota's alert and the quota has a webhook; never waits or throws. */
  notify(event: AuditEvent): void {
    if (event.action !== 'quota.alert' || this.attempts.isStopped || event.workspaceId === null) return;
    void this.deliver(event).catch((err: unknown) =>
      this.deps.log.error({ err, eventId: event.id }, 'quota alert webhook not delivered'),
    );
  }

  /** Delivers nothing more: waits end now, an attempt under way ends with the task client. */
  stop(): void {
    this.attempts.stop();
  }

  /** The delivery of one event: its attempts, then the failure recorded if none succeeded. */
  async deliver(event: AuditEvent): Promise<void> {
    const quotaId = (event.details as Details | null)?.quota?.id;
    if (typeof quotaId !== 'string' || !isUuid(quotaId)) return;
    const quota = await this.deps.quotaOf(event.workspaceId!, quotaId);
    const url = quota?.alertWebhookUrl;
    const body = url ? bodyOf(event, quota.window) : undefined;
    if (!url || !body) return;
    const delivery = await this.attempts.deliver(url, JSON.stringify(body));
    if ('dropped' in delivery)
      this.deps.log.warn({ eventId: event.id, quotaId }, 'quota alert webhook dropped: the control plane stopped');
    else if (!delivery.ok) await this.failed(event, quotaId, { url, ...delivery });
  }

  private async failed(event: AuditEvent, quotaId: string, f: { url: string; attempts: number; error: string }) {
    // The URL's origin only: its path or query often holds the webhook's token.
    const origin = new URL(f.url).origin;
    this.deps.log.error(
      { eventId: event.id, quotaId, origin, attempts: f.attempts, error: f.error },
      'quota alert webhook failed',
    );
    await this.deps.record(
      systemEvent({
        workspaceId: event.workspaceId,
        action: 'quota.alert_webhook_failed',
        resource: { type: 'quota', id: quotaId },
        outcome: 'failed',
        details: { alertEventId: event.id, origin, attempts: f.attempts, error: f.error },
      }),
    );
  }
}

/** The webhooks of the control plane: quotas from PostgreSQL, POSTs by the workers, failures in the trail. */
export function alertWebhooksFor(deps: {
  db: Db;
  tasks: DataPlaneTaskClient;
  trail: AuditTrail;
  log: Logger;
}): AlertWebhooks {
  const { db, tasks, trail, log } = deps;
  return new AlertWebhooks({
    quotaOf: (workspaceId, id) =>
      db.quota.findFirst({ where: { id, workspaceId }, select: { window: true, alertWebhookUrl: true } }),
    post: workerWebhookPost(tasks),
    record: (event) => trail.appendAlone(event),
    log,
  });
}
