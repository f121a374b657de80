import { readFileSync } from 'node:fs';
import type { Logger } from '@toolplane/logger';
import type { RedisClient } from '@toolplane/redis';
import type { EdgeEnv } from '../env.ts';
import { eventSecretSealer } from './seal.ts';
import { streamStanding } from './standing.ts';
import type { EventsDeps } from './subscriptions.ts';

/** What the edge's events handlers work with, from its env and resources (webhook delivery: where it can seal). */
export function eventsDeps(
  env: EdgeEnv,
  r: Pick<EventsDeps, 'audit' | 'standings'> & { redis: RedisClient; log: Logger } & Parameters<
      typeof streamStanding
    >[0],
): EventsDeps {
  return {
    redis: r.redis,
    prefix: env.REDIS_PREFIX,
    log: r.log,
    audit: r.audit,
    standing: streamStanding(r),
    standings: r.standings,
    settings: {
      idleTtlMs: env.EVENTS_IDLE_TTL_MS,
      heartbeatMs: env.EVENTS_HEARTBEAT_MS,
      webhookDefaultTtlMs: env.EVENTS_WEBHOOK_DEFAULT_TTL_MS,
      webhookMaxTtlMs: env.EVENTS_WEBHOOK_MAX_TTL_MS,
      allowLoopbackCallbacks: env.EVENTS_ALLOW_LOOPBACK_CALLBACKS,
      maxSubscriptions: env.EVENTS_MAX_SUBSCRIPTIONS,
      maxSubscriptionsPerCaller: env.EVENTS_MAX_SUBSCRIPTIONS_PER_CALLER,
      nextPollMs: env.EVENTS_NEXT_POLL_MS,
    },
    ...(env.REQUEST_CREDENTIALS_PUBLIC_KEY_FILE
      ? { sealSecret: eventSecretSealer(readFileSync(env.REQUEST_CREDENTIALS_PUBLIC_KEY_FILE, 'utf8')) }
      : {}),
  };
}
