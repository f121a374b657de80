import { randomUUID } from 'node:crypto';
import type { DataPlaneTaskClient } from '@toolplane/queue';

/**
 * A webhook's attempts, as the control plane's announcements make them (quota alerts, approval requests): one POST by a
 * worker per attempt, each bounded, the next after its wait; `stop()` ends every wait at once and no attempt starts
 * after it (one under way ends with the task client).
 */

/** One POST, by a worker, answered by `deadlineAt`. */
export type WebhookPost = (
  url: string,
  body: string,
  deadlineAt: number,
) => Promise<{ ok: boolean; error?: string | undefined }>;

/** How a delivery ended: delivered, failed after every attempt (the last error), or dropped by `stop()`. */
export type WebhookDelivery = { ok: true } | { ok: false; error: string; attempts: number } | { dropped: true };

export class WebhookAttempts {
  private readonly waits = new Set<{ timer: NodeJS.Timeout; done: () => void }>();
  private stopped = false;
  private readonly post: WebhookPost;
  private readonly waitsMs: readonly number[];
  private readonly attemptTimeoutMs: number;

  /** `waitsMs`: the waits before each attempt after the first; `attemptTimeoutMs`: how long one attempt may take. */
  constructor(post: WebhookPost, waitsMs: readonly number[], attemptTimeoutMs: number) {
    this.post = post;
    this.waitsMs = waitsMs;
    this.attemptTimeoutMs = attemptTimeoutMs;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** POSTs `body` to `url` until one attempt succeeds or every one failed. */
  async deliver(url: string, body: string): Promise<WebhookDelivery> {
    let error = '';
    for (let attempt = 0; attempt <= this.waitsMs.length; attempt++) {
      if (attempt > 0) await this.wait(this.waitsMs[attempt - 1]!);
      if (this.stopped) return { dropped: true };
      const r = await this.post(url, body, Date.now() + this.attemptTimeoutMs).catch((err: unknown) => ({
        ok: false,
        error: err instanceof Error ? err.message : String(err),
      }));
      if (r.ok) return { ok: true };
      error = r.error ?? 'failed';
    }
    return { ok: false, error, attempts: this.waitsMs.length + 1 };
  }

  /** Delivers nothing more: waits end now. */
  stop(): void {
    this.stopped = true;
    for (const w of this.waits) {
      clearTimeout(w.timer);
      w.done();
    }
    this.waits.clear();
  }

  private wait(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const w = {
        timer: setTimeout(() => {
          this.waits.delete(w);
          resolve();
        }, ms),
        done: resolve,
      };
      w.timer.unref();
      this.waits.add(w);
    });
  }
}

/** A POST made by a worker (`webhook.post`: its outbound guard, https only); the control plane makes none itself. */
export function workerWebhookPost(tasks: DataPlaneTaskClient): WebhookPost {
  return (url, body, deadlineAt) =>
    tasks.postWebhook({
      v: 1,
      taskId: randomUUID(),
      kind: 'webhook.post',
      url,
      body,
      deadlineAt,
      replyTo: tasks.clientId,
    });
}
