import type { Logger } from '@toolplane/logger';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import { WebhookAttempts, workerWebhookPost, type WebhookPost } from '../../documents/webhook-attempts.ts';
import { recordApprovalNotification } from '@toolplane/telemetry';
import type { ApprovalNotifyTarget } from '../../catalog/approvals.ts';
import type { Db } from '../../db/client.ts';
import { personApprovalLinks } from './links.ts';
import { approvalLinks, notificationText, type NewApprovalRequest } from './notify-bodies.ts';

/**
 * The webhooks of an approval rule (`approvalRule.notify`, ADR 0049): each request the control plane made a row of is
 * POSTed to each of them by a worker (`webhook.post`: the outbound guard, https only; the control plane makes no
 * request itself), as quota alerts are. Each attempt is bounded; a failed one is tried again after 1 and 5 s; the last
 * failure is logged (the URL's origin only: its path often holds the webhook's token) and counted
 * (`toolplane.approval.notifications`). Nothing waits for a delivery: the request is stored first, whatever becomes of
 * its announcement, and one under way when the control plane stops is dropped.
 */

export interface ApprovalNotifierDeps {
  /** One POST, by a worker, answered by `deadlineAt`. */
  post: WebhookPost;
  /** The control plane's URL as people reach it: the links of a body. */
  publicUrl: string;
  log: Logger;
  /** The waits before each attempt after the first (default 1 and 5 s). */
  waitsMs?: readonly number[];
  /** How long one attempt may take, the worker's queue wait included (default 10 s). */
  attemptTimeoutMs?: number;
  /** A link for each person the request's rule names (`personApprovalLinks`), made once per request. */
  peopleLinks?: (approvalId: string) => Promise<{ person: string; url: string }[]>;
}

export class ApprovalNotifier {
  private readonly deps: ApprovalNotifierDeps;
  private readonly attempts: WebhookAttempts;

  constructor(deps: ApprovalNotifierDeps) {
    this.deps = deps;
    this.attempts = new WebhookAttempts(deps.post, deps.waitsMs ?? [1_000, 5_000], deps.attemptTimeoutMs ?? 10_000);
  }

  /** Starts announcing a new request to each webhook of its rule; never waits or throws. */
  notify(request: NewApprovalRequest): void {
    if (this.attempts.isStopped) return;
    void this.announce(request).catch((err: unknown) =>
      this.deps.log.error({ err, approvalId: request.id }, 'approval notification not delivered'),
    );
  }

  /** The request's bodies (people's links made once, for every webhook), each delivered on its own. */
  private async announce(request: NewApprovalRequest): Promise<void> {
    const named = request.details.rule.approvers.people?.length ?? 0;
    const people = named > 0 && this.deps.peopleLinks ? await this.deps.peopleLinks(request.id) : [];
    const links = {
      ...approvalLinks(this.deps.publicUrl, request.id),
      ...(people.length > 0 ? { people: people.map(({ person, url }) => ({ person, url })) } : {}),
    };
    await Promise.all(
      request.notify.map((target) => this.deliver(request.id, target, notificationText(target.format, request, links))),
    );
  }

  /** Delivers nothing more: waits end now, an attempt under way ends with the task client. */
  stop(): void {
    this.attempts.stop();
  }

  /** One webhook's delivery: its attempts, then the failure logged and counted if none succeeded. */
  async deliver(approvalId: string, target: ApprovalNotifyTarget, text: string): Promise<boolean> {
    const origin = new URL(target.url).origin;
    const delivery = await this.attempts.deliver(target.url, text);
    if ('dropped' in delivery) {
      this.deps.log.warn({ approvalId, origin }, 'approval notification dropped: the control plane stopped');
      return false;
    }
    if (delivery.ok) {
      recordApprovalNotification(target.format, 'delivered');
      this.deps.log.debug({ approvalId, origin, format: target.format }, 'approval notification delivered');
      return true;
    }
    recordApprovalNotification(target.format, 'failed');
    this.deps.log.error(
      { approvalId, origin, format: target.format, attempts: delivery.attempts, error: delivery.error },
      'approval notification failed',
    );
    return false;
  }
}

/** The control plane's notifier: POSTs by the workers, links under `PUBLIC_API_URL` (else where it listens). */
export function approvalNotifierFor(deps: {
  db: Db;
  tasks: DataPlaneTaskClient;
  log: Logger;
  env: { PUBLIC_API_URL?: string | undefined; HOST: string; PORT: number };
}): ApprovalNotifier {
  const { db, tasks, log, env } = deps;
  const listening = env.HOST === '0.0.0.0' || env.HOST === '::' ? '127.0.0.1' : env.HOST;
  const host = listening.includes(':') ? `[${listening}]` : listening;
  const publicUrl = env.PUBLIC_API_URL ?? `http://${host}:${env.PORT}`;
  return new ApprovalNotifier({
    post: workerWebhookPost(tasks),
    publicUrl,
    log,
    peopleLinks: (approvalId) => personApprovalLinks(db, approvalId, publicUrl.replace(/\/+$/, '')),
  });
}
