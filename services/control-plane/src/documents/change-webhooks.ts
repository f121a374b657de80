import type { Logger } from '@toolplane/logger';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import { WebhookAttempts, workerWebhookPost, type WebhookPost } from './webhook-attempts.ts';

/**
 * The webhooks of registered external MCP servers (`notifyWebhookUrl`, ADR 0061): each listing that holds changes for
 * review is POSTed as JSON by a worker (its outbound guard), as quota alerts are; a failed attempt is tried again after
 * 1 and 5 s, and the last failure is logged with the URL's origin only (its path often holds the webhook's token).
 * Nothing waits for a delivery: the held changes and their audit events are stored first.
 */
export class ChangeWebhooks {
  private readonly attempts: WebhookAttempts;
  private readonly log: Pick<Logger, 'warn' | 'error' | 'debug'>;

  constructor(deps: {
    post: WebhookPost;
    log: Pick<Logger, 'warn' | 'error' | 'debug'>;
    waitsMs?: readonly number[];
    attemptTimeoutMs?: number;
  }) {
    this.log = deps.log;
    this.attempts = new WebhookAttempts(deps.post, deps.waitsMs ?? [1_000, 5_000], deps.attemptTimeoutMs ?? 10_000);
  }

  /** Starts delivering `body` to `url`; never waits or throws. `about` names it in the logs. */
  notify(url: string, body: unknown, about: Record<string, unknown>): void {
    if (this.attempts.isStopped) return;
    void this.deliver(url, JSON.stringify(body), about).catch((err: unknown) =>
      this.log.error({ err, ...about }, 'change webhook not delivered'),
    );
  }

  /** Delivers nothing more: waits end now, an attempt under way ends with the task client. */
  stop(): void {
    this.attempts.stop();
  }

  private async deliver(url: string, body: string, about: Record<string, unknown>): Promise<void> {
    const origin = new URL(url).origin;
    const delivery = await this.attempts.deliver(url, body);
    if ('dropped' in delivery) this.log.warn({ ...about, origin }, 'change webhook dropped: the control plane stopped');
    else if (delivery.ok) this.log.debug({ ...about, origin }, 'change webhook delivered');
    else
      this.log.error({ ...about, origin, attempts: delivery.attempts, error: delivery.error }, 'change webhook failed');
  }
}

/** The change webhooks of the control plane: POSTs by the workers. */
export const changeWebhooksFor = (tasks: DataPlaneTaskClient, log: Logger): ChangeWebhooks =>
  new ChangeWebhooks({ post: workerWebhookPost(tasks), log });
