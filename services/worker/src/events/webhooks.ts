import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import {
  EventSubscription,
  subscriptionsKey,
  subscriptionStreamKey,
  webhookCursorKey,
  webhookLockKey,
  webhookPendingKey,
  webhookVerifiedKey,
} from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { removeSubscription, subscriberRefusal, type SubscriberStandings } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';
import { Webhook } from 'standardwebhooks';
import { OCCURRENCE_FIELD } from './fan-out.ts';

/** One POST to a callback: its status and the start of its body (4 KiB: a verification's echo), or why it failed. */
export type CallbackPost = (
  url: string,
  body: string,
  headers: Record<string, string>,
) => Promise<{ status: number; text: string }>;

/** Answers that end one delivery's retries (the subscription stays; its next entry goes on). */
const FINAL_STATUSES = new Set([410, 413]);

/** How long a callback's confirmed intent (the verification handshake) is kept, per principal and URL. */
const VERIFIED_TTL_SECONDS = 24 * 3600;

export interface WebhookDelivererDeps {
  redis: RedisClient;
  prefix: string;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** Subscribers that stood at their last judgement, kept until a change is announced (absent: judged every time). */
  standings?: Pick<SubscriberStandings, 'refusal'> | undefined;
  /** Opens a subscription's sealed signing secret (sealed by the edge to the workers, for that subscription only). */
  open: (sealed: string, subscriptionId: string) => Promise<string>;
  post: CallbackPost;
  now: () => number;
  maxBackoffMs: number;
  /** How long a delivery lock lasts without renewal (a killed worker's subscriptions resume after it). */
  lockMs?: number;
  /** How often every pending subscription is looked at (those another worker left). */
  pollMs?: number;
  /** A delivery ended (taken, or given up by the callback's 410/413): its execution record (docs/events.md). */
  delivered?: (sub: EventSubscription, delivery: WebhookDelivery) => void;
}

/** One attempt of a delivery: the callback's status (0: no answer) or why it failed, as a category. */
export interface DeliveryAttempt {
  status: number;
  category: string | undefined;
  startedAt: number;
  durationMs: number;
}

/** A delivery's end: its occurrence, every attempt, and whether the callback took it. */
export interface WebhookDelivery {
  eventId: string;
  name: string;
  attempts: DeliveryAttempt[];
  taken: boolean;
}

/** Releases a lock only while it is still this worker's. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
/** Renews a lock only while it is still this worker's. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

type Entry = [id: string, fields: string[]];

/**
 * Webhook subscriptions' deliveries (MCP Events): each entry of a subscription's stream POSTed in order to its
 * callback, signed as Standard Webhooks with the subscription's secret (`webhook-id` is the occurrence's `eventId`,
 * the same on every attempt), one in flight per subscription (a Redis lock), retried with backoff until the callback
 * answers 2xx or the subscription expires. The cursor of what was delivered is in Redis, moved after each 2xx: a
 * worker killed mid-delivery leaves the entry to the next (at least once, same eventId).
 */
export class WebhookDeliverer {
  private readonly deps: WebhookDelivererDeps;
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly lockMs: number;

  constructor(deps: WebhookDelivererDeps) {
    this.deps = deps;
    this.lockMs = deps.lockMs ?? 15_000;
  }

  /** A webhook subscription's stream got an entry. */
  wake(instanceId: string, subscriptionId: string): void {
    const member = `${instanceId}\n${subscriptionId}`;
    void this.deps.redis
      .sadd(webhookPendingKey(this.deps.prefix), member)
      .then(() => this.kick(member))
      .catch(() => undefined);
  }

  start(): void {
    const poll = () => {
      void this.deps.redis
        .smembers(webhookPendingKey(this.deps.prefix))
        .then((members) => members.forEach((m) => this.kick(m)))
        .catch(() => undefined)
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(poll, this.deps.pollMs ?? 1000);
        });
    };
    poll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all(this.running.values());
  }

  private kick(member: string): void {
    if (this.stopped || this.running.has(member)) return;
    const run = this.drain(member)
      .catch((err: unknown) => this.deps.log.warn({ err }, 'webhook deliveries interrupted; resumed by the next poll'))
      .finally(() => this.running.delete(member));
    this.running.set(member, run);
  }

  private async drain(member: string): Promise<void> {
    const [instanceId = '', subscriptionId = ''] = member.split('\n');
    const { redis } = this.deps;
    const lock = { key: webhookLockKey(instanceId, subscriptionId), token: randomUUID() };
    if ((await redis.set(lock.key, lock.token, 'PX', this.lockMs, 'NX')) !== 'OK') return;
    try {
      await this.deliverAll(member, instanceId, subscriptionId, lock);
    } finally {
      await redis.eval(RELEASE, 1, lock.key, lock.token).catch(() => undefined);
    }
  }

  private async deliverAll(
    member: string,
    instanceId: string,
    subscriptionId: string,
    lock: { key: string; token: string },
  ): Promise<void> {
    const { redis, prefix } = this.deps;
    const cursorKey = webhookCursorKey(instanceId, subscriptionId);
    while (!this.stopped) {
      const raw = await redis.hget(subscriptionsKey(instanceId), subscriptionId);
      const parsed = raw ? EventSubscription.safeParse(JSON.parse(raw)) : undefined;
      const sub = parsed?.success ? parsed.data : undefined;
      if (!sub?.callback || sub.delivery !== 'webhook' || sub.expiresAt <= this.deps.now()) {
        // Gone or expired: nothing more is sent to it.
        // Two slots in a cluster: two commands (the pending entry last, so a crash between them retries the cleanup).
        await redis.del(cursorKey);
        await redis.srem(webhookPendingKey(prefix), member);
        return;
      }
      if (!(await this.verified(sub, lock))) return;
      const cursor = (await redis.get(cursorKey)) ?? '0';
      const stream = subscriptionStreamKey(instanceId, subscriptionId);
      const entries = (await redis.xrange(stream, `(${cursor}`, '+', 'COUNT', 20)) as Entry[];
      if (entries.length === 0) {
        await redis.srem(webhookPendingKey(prefix), member);
        // An entry added between the read and the removal would wait for nobody: look once more.
        if ((await redis.xrange(stream, `(${cursor}`, '+', 'COUNT', 1)).length === 0) return;
        await redis.sadd(webhookPendingKey(prefix), member);
        continue;
      }
      for (const entry of entries) {
        if (!(await this.stands(sub, member))) return;
        if (!(await this.deliverOne(sub, entry, lock))) return;
        await redis.set(cursorKey, entry[0]);
        if ((await redis.eval(RENEW, 1, lock.key, lock.token, String(this.lockMs))) !== 1) return;
      }
    }
  }

  /**
   * Whether the subscriber's credential still holds, judged before each delivery: otherwise the
   * subscription ends (removed with its stream and cursor) and nothing more is sent. A check that cannot be made sends
   * nothing now (the next poll tries again).
   */
  private async stands(sub: EventSubscription, member: string): Promise<boolean> {
    const { redis, prefix, log } = this.deps;
    const { standings } = this.deps;
    const refused = standings
      ? await standings.refusal(redis, prefix, sub, this.deps.now())
      : await subscriberRefusal(redis, prefix, sub, this.deps.now());
    if (refused === undefined) return true;
    await removeSubscription(redis, sub.instanceId, sub.id);
    await redis.del(webhookCursorKey(sub.instanceId, sub.id));
    await redis.srem(webhookPendingKey(prefix), member);
    log.info({ subscriptionId: sub.id, reason: refused }, 'webhook subscription ended: its credential no longer holds');
    return false;
  }

  /**
   * The callback confirmed it wants these deliveries (before the first one, and again a day later): a signed
   * `{"type":"verification","challenge"}` whose 2xx answer echoes the challenge (the body, or its `challenge` field).
   * Retried like a delivery; false when the subscription expires, the worker stops or the lock is lost.
   */
  private async verified(sub: EventSubscription, lock: { key: string; token: string }): Promise<boolean> {
    const { redis } = this.deps;
    const who = createHash('sha256')
      .update(JSON.stringify([sub.principal.keyId ?? null, sub.principal.subject ?? null, sub.callback!.url]))
      .digest('hex')
      .slice(0, 32);
    const key = webhookVerifiedKey(sub.instanceId, who);
    if ((await redis.exists(key)) === 1) return true;
    const challenge = randomBytes(24).toString('base64url');
    const body = JSON.stringify({ type: 'verification', challenge });
    const echoed = (text: string): boolean => {
      let value = text.trim();
      try {
        const parsed = JSON.parse(value) as { challenge?: unknown };
        if (typeof parsed === 'object' && parsed !== null && typeof parsed.challenge === 'string')
          value = parsed.challenge;
      } catch {
        // the plain body is the echo
      }
      const a = Buffer.from(value);
      const b = Buffer.from(challenge);
      return a.length === b.length && timingSafeEqual(a, b);
    };
    const ok = await this.send(sub, { id: `msg_verification_${randomBytes(8).toString('hex')}`, body }, lock, echoed);
    if (ok) await redis.set(key, '1', 'EX', VERIFIED_TTL_SECONDS);
    return ok;
  }

  /** One entry, until a 2xx (true), or until the subscription expires, the worker stops or the lock is lost (false). */
  private async deliverOne(sub: EventSubscription, [id, fields]: Entry, lock: { key: string; token: string }) {
    const at = fields.indexOf(OCCURRENCE_FIELD);
    const occurrence = JSON.parse(fields[at + 1] ?? '{}') as { eventId?: string };
    const body = JSON.stringify({ ...occurrence, cursor: id });
    const attempts: DeliveryAttempt[] = [];
    const ended = await this.send(sub, { id: occurrence.eventId ?? id, body, attempts }, lock, () => true);
    const last = attempts.at(-1);
    if (ended && last)
      this.deps.delivered?.(sub, {
        eventId: occurrence.eventId ?? id,
        name: sub.name,
        attempts,
        taken: last.status >= 200 && last.status < 300,
      });
    return ended;
  }

  /**
   * POSTs one message until the callback takes it (a 2xx that `accepted` agrees with; 410 and 413 end it too), each
   * attempt signed anew (Standard Webhooks: `webhook-id` the same every time, timestamp and signature regenerated),
   * waiting between attempts (doubling from 1 s up to `maxBackoffMs`) while renewing the lock.
   */
  private async send(
    sub: EventSubscription,
    message: { id: string; body: string; attempts?: DeliveryAttempt[] },
    lock: { key: string; token: string },
    accepted: (text: string) => boolean,
  ): Promise<boolean> {
    const { now, log } = this.deps;
    const signer = new Webhook(await this.deps.open(sub.callback!.secretSealed, sub.id));
    for (let attempt = 0; !this.stopped && sub.expiresAt > now(); attempt++) {
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'toolplane-events/1',
        'webhook-id': message.id,
        'webhook-timestamp': String(Math.floor(now() / 1000)),
        'webhook-signature': signer.sign(message.id, new Date(now()), message.body),
        'x-mcp-subscription-id': sub.id,
      };
      const startedAt = now();
      const answer: { status: number; text: string; category?: string } = await this.deps
        .post(sub.callback!.url, message.body, headers)
        .catch((err: unknown) => ({ status: 0, text: '', category: errorCategory(err) }));
      const ok = answer.status >= 200 && answer.status < 300;
      message.attempts?.push({
        status: answer.status,
        category: ok ? undefined : categoryOf(answer),
        startedAt,
        durationMs: now() - startedAt,
      });
      if (ok && accepted(answer.text)) return true;
      if (FINAL_STATUSES.has(answer.status)) {
        log.info({ subscriptionId: sub.id, status: answer.status }, 'webhook delivery given up (the callback said so)');
        return true;
      }
      const wait = Math.min(this.deps.maxBackoffMs, 1000 * 2 ** Math.min(attempt, 16));
      log.debug(
        { subscriptionId: sub.id, attempt: attempt + 1, waitMs: wait, reason: categoryOf(answer) },
        'webhook delivery failed; retrying',
      );
      if (!(await this.sleepHolding(wait, lock))) return false;
    }
    return false;
  }

  /** Waits `ms`, renewing the lock meanwhile; false when the lock was lost or the worker stops. */
  private async sleepHolding(ms: number, lock: { key: string; token: string }): Promise<boolean> {
    const until = this.deps.now() + ms;
    while (!this.stopped && this.deps.now() < until) {
      const renewed = await this.deps.redis.eval(RENEW, 1, lock.key, lock.token, String(this.lockMs));
      if (renewed !== 1) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(500, until - this.deps.now())));
    }
    return !this.stopped;
  }
}

/** Why a POST failed, as a category (never an endpoint's body, headers or status line). */
function errorCategory(err: unknown): string {
  const code = String(
    (err as { code?: unknown; cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code ?? '',
  );
  if (code === 'ECONNREFUSED') return 'connection_refused';
  if (/TIMEOUT|ABORT/i.test(code) || (err as Error).name === 'TimeoutError') return 'timeout';
  if (/CERT|TLS|SSL/i.test(code)) return 'tls_error';
  return 'unreachable';
}

function categoryOf(answer: { status: number; category?: string }): string {
  if (answer.category) return answer.category;
  if (answer.status >= 500) return 'http_5xx';
  if (answer.status >= 400) return 'http_4xx';
  return answer.status >= 200 && answer.status < 300 ? 'challenge_failed' : `http_${answer.status}`;
}
