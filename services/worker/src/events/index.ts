import {
  INBOUND_QUEUE,
  webhookPendingKey,
  type AuditEventInput,
  type ExecutionRecord,
  type WorkspaceAccess,
} from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { DelegationBudget, InboundConsumer, type QuotaMeter, type SubscriberStandings } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';
import { observeQueueDepth, observeWebhooksPending } from '@toolplane/telemetry';
import { createGuardedFetch, isAllowlisted } from '../outbound-guard.ts';
import type { SessionStore } from '../session-labels.ts';
import { deliveryRecord } from './delivery-record.ts';
import { ExternalEventPoller } from './external.ts';
import { handleInbound } from './inbound.ts';
import { EventSources } from './sources.ts';
import { WebhookDeliverer, type CallbackPost } from './webhooks.ts';

interface EventsSettings {
  toleranceMs: number;
  replayWindowMs: number;
  streamMaxLen: number;
  maxScanBytes: number;
  maxBackoffMs: number;
  /** A callback's answer is waited for this long. */
  callbackTimeoutMs: number;
}

export interface WorkerEventsDeps {
  redis: RedisClient;
  prefix: string;
  log: Logger;
  secret: (name: string) => Promise<string | undefined>;
  records: { add(record: ExecutionRecord): void };
  audit: { add(event: AuditEventInput): void };
  sessions: Pick<SessionStore, 'add'>;
  workspaceAccess: (workspaceId: string) => Promise<WorkspaceAccess | undefined>;
  quotaMeter: Pick<QuotaMeter, 'charge'>;
  /** Subscribers that stood at their last judgement, forgotten when a change is announced (ADR 0103). */
  standings?: SubscriberStandings | undefined;
  /** Opens a webhook subscription's sealed secret (absent: this worker cannot deliver webhooks). */
  open: ((sealed: string, subscriptionId: string) => Promise<string>) | undefined;
  settings: EventsSettings;
}

/** POSTs through the outbound guard: `https`, or plain `http` to hosts OUTBOUND_ALLOW lists; no redirect followed. */
function guardedPost(timeoutMs: number): CallbackPost {
  const fetchGuarded = createGuardedFetch({ maxResponseBytes: 64 * 1024 });
  return async (url, body, headers) => {
    const target = new URL(url);
    if (target.protocol !== 'https:' && !(target.protocol === 'http:' && isAllowlisted(target)))
      throw Object.assign(new Error('refused: plain http'), { code: 'EBLOCKED' });
    const res = await fetchGuarded(target.href, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers,
      body,
    });
    // Only a 2xx's first bytes are read (a verification's echo); redirects are not followed.
    const text = res.status >= 200 && res.status < 300 ? (await res.text()).slice(0, 4096) : '';
    if (!text) await res.body?.cancel().catch(() => undefined);
    return { status: res.status, text };
  };
}

/**
 * MCP Events in the worker (docs/events.md): the consumer of `INBOUND_QUEUE` (verify, replay window, fan-out into the
 * subscriptions' streams), the poller of external MCP servers' events (the same fan-out) and the webhook
 * subscriptions' deliverer.
 */
export function workerEvents(deps: WorkerEventsDeps) {
  const { redis, prefix, log, settings } = deps;
  const now = Date.now;
  const deliverer = new WebhookDeliverer({
    redis,
    prefix,
    log,
    standings: deps.standings,
    open:
      deps.open ??
      (() => Promise.reject(new Error('no REQUEST_CREDENTIALS_PRIVATE_KEY_FILE to open callback secrets'))),
    post: guardedPost(settings.callbackTimeoutMs),
    now,
    maxBackoffMs: settings.maxBackoffMs,
    delivered: (sub, delivery) => deps.records.add(deliveryRecord(sub, delivery)),
  });
  const sources = new EventSources(redis, prefix);
  const inboundDeps = {
    redis,
    prefix,
    log,
    standings: deps.standings,
    sources,
    secret: deps.secret,
    records: deps.records,
    audit: deps.audit,
    sessions: deps.sessions,
    workspaceAccess: deps.workspaceAccess,
    quotaMeter: deps.quotaMeter,
    budget: new DelegationBudget(redis, prefix),
    maxScanBytes: settings.maxScanBytes,
    streamMaxLen: settings.streamMaxLen,
    toleranceMs: settings.toleranceMs,
    replayWindowMs: settings.replayWindowMs,
    now,
    webhookEntry: (instanceId: string, subscriptionId: string) => deliverer.wake(instanceId, subscriptionId),
  };
  // External MCP servers' events: polled by one worker per (event type, arguments), fanned out the same way.
  const poller = new ExternalEventPoller({ redis, prefix, log, sources, secret: deps.secret, fanOut: inboundDeps });
  const consumer = new InboundConsumer({
    redis,
    prefix,
    concurrency: 16,
    handle: (delivery) => handleInbound(inboundDeps, delivery),
    onInvalid: (jobId) => log.error({ jobId }, 'invalid inbound delivery'),
    onError: (err) => log.warn({ err }, 'inbound queue error (BullMQ reconnects by itself)'),
  });
  return {
    start(): void {
      consumer.start();
      deliverer.start();
      poller.start();
      // The events' backlog (k8s/monitoring/rules.yaml): deliveries queued, and webhooks waiting for their callback.
      observeQueueDepth(INBOUND_QUEUE, () => consumer.jobCounts());
      observeWebhooksPending(() => redis.scard(webhookPendingKey(prefix)));
    },
    waitUntilReady: () => consumer.waitUntilReady(),
    async stop(): Promise<void> {
      await Promise.all([consumer.close(), deliverer.stop(), poller.stop()]);
    },
  };
}
