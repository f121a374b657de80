import type { Logger } from '@toolplane/logger';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import { WebhookAttempts, workerWebhookPost, type WebhookPost } from '../../documents/webhook-attempts.ts';
import { recordApprovalNotification } from '@toolplane/telemetry';
import type { ApprovalNotifyTarget } from '../../catalog/approvals.ts';
import type { Db } from '../../db/client.ts';
import { personApprovalLinks } from './links.ts';
import {
  approvalLinks,
  batchNotificationText,
  notificationText,
  type ApprovalLinks,
  type NewApprovalRequest,
} from './notify-bodies.ts';

/**
 * The webhooks of an approval rule (`approvalRule.notify`, ADR 0049): each request the control plane made a row of is
 * POSTed to each of them by a worker (`webhook.post`: the outbound guard, https only; the control plane makes no
 * request itself), as quota alerts are; at most one post per webhook per `intervalMs` (the requests made meanwhile go
 * in one batch, when it is up: a burst of requests is a few posts, not one each). Each attempt is bounded; a failed
 * one is tried again after 1 and 5 s; the last
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
  /** The least time between two posts to one webhook (default 10 s): requests made meanwhile go in one batch. */
  intervalMs?: number;
}

/** One webhook's pace: when it was last posted to, and the requests waiting for its next post (a batch). */
interface Gate {
  lastAt: number;
  waiting: NewApprovalRequest[];
  timer?: NodeJS.Timeout;
}

export class ApprovalNotifier {
  private readonly deps: ApprovalNotifierDeps;
  private readonly attempts: WebhookAttempts;
  private readonly intervalMs: number;
  /** Per webhook (workspace, format, URL). */
  private readonly gates = new Map<string, Gate>();
  /** Each request's links, made once for all its webhooks: dropped when the last of them was posted. */
  private readonly links = new Map<string, { made: Promise<ApprovalLinks>; left: number }>();

  constructor(deps: ApprovalNotifierDeps) {
    this.deps = deps;
    this.attempts = new WebhookAttempts(deps.post, deps.waitsMs ?? [1_000, 5_000], deps.attemptTimeoutMs ?? 10_000);
    this.intervalMs = deps.intervalMs ?? 10_000;
  }

  /**
   * Starts announcing a new request to each webhook of its rule; never waits or throws. A webhook posted to less than
   * `intervalMs` ago gets it in one batch with the others made until then, when that time is up.
   */
  notify(request: NewApprovalRequest): void {
    if (this.attempts.isStopped) return;
    for (const target of request.notify) this.admit(request, target);
  }

  private admit(request: NewApprovalRequest, target: ApprovalNotifyTarget): void {
    const id = `${request.workspaceId} ${target.format} ${target.url}`;
    const now = Date.now();
    const gate = this.gates.get(id);
    if (!gate || (!gate.timer && now - gate.lastAt >= this.intervalMs)) {
      this.gates.set(id, { lastAt: now, waiting: [] });
      this.send(target, [request]);
      return;
    }
    gate.waiting.push(request);
    gate.timer ??= setTimeout(
      () => {
        this.gates.set(id, { lastAt: Date.now(), waiting: [] });
        this.send(target, gate.waiting);
      },
      gate.lastAt + this.intervalMs - now,
    );
  }

  /** The request's links (people's made once, for every webhook). */
  private linksOf(request: NewApprovalRequest): Promise<ApprovalLinks> {
    let entry = this.links.get(request.id);
    if (!entry) {
      entry = { made: this.makeLinks(request), left: request.notify.length };
      this.links.set(request.id, entry);
    }
    if (--entry.left <= 0) this.links.delete(request.id);
    return entry.made;
  }

  private async makeLinks(request: NewApprovalRequest): Promise<ApprovalLinks> {
    const named = request.details.rule.approvers.people?.length ?? 0;
    const people = named > 0 && this.deps.peopleLinks ? await this.deps.peopleLinks(request.id) : [];
    return {
      ...approvalLinks(this.deps.publicUrl, request.id),
      ...(people.length > 0 ? { people: people.map(({ person, url }) => ({ person, url })) } : {}),
    };
  }

  /** One post to `target`: one request's body, or a batch's. */
  private send(target: ApprovalNotifyTarget, requests: NewApprovalRequest[]): void {
    const ids = requests.map((r) => r.id);
    void (async () => {
      const links = await Promise.all(requests.map((r) => this.linksOf(r)));
      const text =
        requests.length === 1
          ? notificationText(target.format, requests[0]!, links[0]!)
          : batchNotificationText(target.format, this.deps.publicUrl, { requests, links });
      await this.deliver(ids, target, text);
    })().catch((err: unknown) => this.deps.log.error({ err, approvalIds: ids }, 'approval notification not delivered'));
  }

  /** Delivers nothing more: waits end now, an attempt under way ends with the task client. */
  stop(): void {
    this.attempts.stop();
    for (const gate of this.gates.values()) clearTimeout(gate.timer);
    this.gates.clear();
    this.links.clear();
  }

  /** One webhook's delivery: its attempts, then the failure logged and counted if none succeeded. */
  async deliver(approvalIds: string[], target: ApprovalNotifyTarget, text: string): Promise<boolean> {
    const origin = new URL(target.url).origin;
    const about = approvalIds.length === 1 ? { approvalId: approvalIds[0] } : { approvalIds };
    const delivery = await this.attempts.deliver(target.url, text);
    if ('dropped' in delivery) {
      this.deps.log.warn({ ...about, origin }, 'approval notification dropped: the control plane stopped');
      return false;
    }
    if (delivery.ok) {
      recordApprovalNotification(target.format, 'delivered');
      this.deps.log.debug({ ...about, origin, format: target.format }, 'approval notification delivered');
      return true;
    }
    recordApprovalNotification(target.format, 'failed');
    this.deps.log.error(
      { ...about, origin, format: target.format, attempts: delivery.attempts, error: delivery.error },
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
  env: { PUBLIC_API_URL?: string | undefined; HOST: string; PORT: number; APPROVAL_NOTIFY_INTERVAL_SECONDS: number };
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
    intervalMs: env.APPROVAL_NOTIFY_INTERVAL_SECONDS * 1000,
  });
}
