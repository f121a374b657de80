import { createHash, randomUUID } from 'node:crypto';
import { auditActor, printable } from '@toolplane/access';
import type { AuditEventInput, EventPrincipal, EventSubscription, SubscriberCredential } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import {
  registerSubscription,
  streamTail,
  subscriptionIdOf,
  SubscriptionLimitError,
  type ExecutionRecordSink,
  type SubscriberStandings,
} from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';
import { currentTraceIds } from '@toolplane/telemetry';
import type { Caller } from '../identity/authenticate.ts';
import { programCaller } from '../code-mode/code-slots.ts';
import { recordWouldRefuse, type LoadedEventType } from './event-types.ts';
import type { StreamStanding } from './standing.ts';
import { forbidden, resourceExhausted } from './wire.ts';

/** How this edge serves MCP Events (env.ts `EVENTS_*`; docs/events.md). */
export interface EventsSettings {
  /** A poll or push subscription lives this long after its last poll or heartbeat. */
  idleTtlMs: number;
  /** Push: a heartbeat at least this often. */
  heartbeatMs: number;
  /** Webhook: the TTL granted when the client suggests none, and the most granted. */
  webhookDefaultTtlMs: number;
  webhookMaxTtlMs: number;
  /** Tests only: `http://127.0.0.1` and `http://[::1]` callbacks are accepted. */
  allowLoopbackCallbacks: boolean;
  /** The most subscriptions one connector instance holds. */
  maxSubscriptions: number;
  /** The most of them one caller holds (`subscriptionOwner`). */
  maxSubscriptionsPerCaller: number;
  /** What a poll answers as `nextPollMs`. */
  nextPollMs: number;
}

/** Seals a webhook subscription's secret for the workers (absent: webhook delivery is not offered). */
export type EventSecretSealer = (secret: string, subscriptionId: string) => Promise<string>;

/** What the events handlers work with. */
export interface EventsDeps {
  redis: RedisClient;
  /** The Redis prefix of published state (keys, people, narrowed tokens): a stream's subscriber is judged from it. */
  prefix: string;
  settings: EventsSettings;
  log: Logger;
  audit?: Pick<ExecutionRecordSink<AuditEventInput>, 'add'> | undefined;
  sealSecret?: EventSecretSealer | undefined;
  /** Whether an open stream may go on (its type still served, still granted); absent: streams are not checked. */
  standing?: StreamStanding | undefined;
  /**
   * Subscribers that stood at an earlier round of an open stream, kept until a change that may end one is announced or
   * the announcements may have gone unheard (ADR 0103); absent: each round reads the subscriber's credential.
   */
  standings?: Pick<SubscriberStandings, 'refusal'> | undefined;
  now?: () => number;
}

export const nowOf = (deps: EventsDeps): number => (deps.now ?? Date.now)();

/** Who subscribes: the caller's key or token subject, the person it acts for, and a narrowed token's id. */
export function eventPrincipal(caller: Caller): EventPrincipal {
  const { keyId, subject, username } = caller.principal;
  const tokenId = caller.facts.delegation?.token.jti;
  return {
    ...(keyId !== undefined ? { keyId } : {}),
    ...(subject !== undefined ? { subject } : {}),
    ...(username !== undefined ? { username } : {}),
    ...(tokenId !== undefined ? { tokenId } : {}),
  };
}

/**
 * What a subscription keeps of the caller's credential, judged again at each delivery (`subscriberRefusal`, issue
 * #89): the key's hash, a narrowed token's chain, the token's expiry, the person's id. None for an anonymous caller.
 */
function subscriberCredential(caller: Caller): SubscriberCredential | undefined {
  const { credential } = caller;
  if (credential.kind === 'anonymous') return undefined;
  const { userId } = caller.principal;
  const token = caller.facts.delegation?.token;
  return {
    ...(credential.kind === 'key' ? { keyHash: credential.keyHash } : {}),
    ...(token ? { tokenChain: [...token.chain] } : {}),
    ...(token?.conditions.length ? { conditions: [...token.conditions] } : {}),
    ...(token?.limits.length ? { limits: token.limits.map((l) => ({ ...l })) } : {}),
    ...(credential.expiresAt !== undefined ? { expiresAt: credential.expiresAt } : {}),
    ...(userId !== undefined ? { userId } : {}),
  };
}

/** One events request: its JSON-RPC id, and who the subscriptions it makes count against (`subscriptionOwner`). */
export interface EventRequest {
  id: string | number;
  owner: string;
}

/**
 * Who a subscription counts against (EVENTS_MAX_SUBSCRIPTIONS_PER_CALLER): the person, else the key, else the token
 * subject, else an anonymous caller's client address (an IPv6 /64), as a digest: the address is not stored.
 */
export function subscriptionOwner(caller: Caller, clientAddress: string | undefined): string {
  return createHash('sha256').update(programCaller(caller.principal, clientAddress)).digest('hex').slice(0, 32);
}

/** A subscription of this caller to this event type (not yet stored). */
export function subscriptionOf(
  caller: Caller,
  type: LoadedEventType,
  request: {
    arguments: Record<string, unknown>;
    delivery: EventSubscription['delivery'];
    expiresAt: number;
    callback?: EventSubscription['callback'];
    now: number;
    owner: string;
  },
): EventSubscription {
  const { catalog } = caller.loaded;
  const credential = subscriberCredential(caller);
  const { session } = caller.facts;
  const parts = {
    workspaceId: catalog.workspaceId,
    serverId: catalog.serverId,
    principal: eventPrincipal(caller),
    name: type.entry.event.name,
    arguments: request.arguments,
    delivery: request.delivery,
    callbackUrl: request.callback?.url,
  };
  return {
    v: 1,
    id: subscriptionIdOf(parts),
    workspaceId: parts.workspaceId,
    serverId: parts.serverId,
    instanceId: type.entry.source.instanceId,
    name: parts.name,
    arguments: request.arguments,
    principal: parts.principal,
    delivery: request.delivery,
    ...(request.callback ? { callback: request.callback } : {}),
    ...(session ? { session: { scopes: [...session.scopes], ttlSeconds: session.settings.ttlSeconds } } : {}),
    ...(credential ? { credential } : {}),
    createdAt: request.now,
    expiresAt: request.expiresAt,
    owner: request.owner,
  };
}

/**
 * A narrowed token whose calls are spent subscribes to nothing: each occurrence given would spend one (the fan-out
 * ended its subscriptions when none was left), so a poll, stream or subscribe of it is refused, saying why.
 */
async function refuseSpentToken(caller: Caller): Promise<void> {
  const d = caller.facts.delegation;
  if (!d || d.token.limits.length === 0 || !(await d.spent())) return;
  throw forbidden(
    `The narrowed token ${d.token.jti} has no calls left: each event given to its subscriptions spends one, ` +
      'and its subscriptions ended.',
  );
}

/**
 * Stores a subscription (new, lapsed or refreshed); a new one is an audit event. Returns whether it is new and the
 * cursor of "now" on its stream.
 */
export async function storeSubscription(
  deps: EventsDeps,
  caller: Caller,
  sub: EventSubscription,
  requestId: string | number,
): Promise<{ created: boolean; tail: string }> {
  await refuseSpentToken(caller);
  let created: boolean;
  try {
    ({ created } = await registerSubscription(deps.redis, sub, {
      max: deps.settings.maxSubscriptions,
      perOwner: deps.settings.maxSubscriptionsPerCaller,
      now: sub.createdAt,
    }));
  } catch (err) {
    if (err instanceof SubscriptionLimitError) throw resourceExhausted(err.message, err.max);
    throw err;
  }
  if (created) {
    subscriptionAudit(deps, caller, sub, { action: 'event.subscribed', requestId });
    recordWouldRefuse({ sink: deps.audit, requestId }, caller, sub);
  }
  return { created, tail: await streamTail(deps.redis, sub.instanceId, sub.id) };
}

/** The audit event of a subscription made or removed (never the secret; the callback URL without its query). */
export function subscriptionAudit(
  deps: EventsDeps,
  caller: Caller,
  sub: EventSubscription,
  event: { action: 'event.subscribed' | 'event.unsubscribed'; requestId: string | number },
): void {
  if (!deps.audit) return;
  const { catalog } = caller.loaded;
  const callback = sub.callback ? new URL(sub.callback.url) : undefined;
  deps.audit.add({
    id: randomUUID(),
    at: new Date(nowOf(deps)).toISOString(),
    workspaceId: catalog.workspaceId,
    actor: auditActor(caller.principal, caller.keyName),
    action: event.action,
    resource: { type: 'event_subscription', id: sub.id },
    outcome: 'success',
    status: null,
    source: {
      requestId: printable(String(event.requestId), 256),
      traceId: currentTraceIds()?.traceId ?? null,
      clientAddress: null,
      userAgent: null,
    },
    changes: null,
    details: {
      serverId: catalog.serverId,
      serverName: catalog.name,
      event: sub.name,
      delivery: sub.delivery,
      arguments: sub.arguments,
      ...(callback ? { callback: `${callback.origin}${callback.pathname}` } : {}),
    },
  });
}
