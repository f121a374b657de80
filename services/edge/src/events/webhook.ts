import { hostRefusal } from '@toolplane/config';
import { CURSOR_PATTERN, readSubscription, removeSubscription, subscriptionIdOf } from '@toolplane/queue';
import type { Caller } from '../identity/authenticate.ts';
import { eventTypesOf, resolveEventType } from './event-types.ts';
import {
  eventPrincipal,
  nowOf,
  storeSubscription,
  subscriptionAudit,
  subscriptionOf,
  type EventRequest,
  type EventsDeps,
  type EventsSettings,
} from './subscriptions.ts';
import {
  forbidden,
  invalidParams,
  notFound,
  unsupported,
  type SubscribeParams,
  type UnsubscribeParams,
} from './wire.ts';

/** The shortest TTL granted (the specification's sanctioned clamp-up floor). */
const MIN_WEBHOOK_TTL_MS = 60_000;

/** Webhook subscriptions need an authenticated principal (SEP-3415 "Subscription identity"; docs/events.md E9). */
function requireAuthenticated(caller: Caller): void {
  const { keyId, subject } = caller.principal;
  if (keyId === undefined && (subject === undefined || subject === 'anonymous'))
    throw forbidden('Webhook subscriptions need an authenticated caller (an API key or an OAuth token).');
}

/** A Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 bytes (E10). */
function checkSecret(secret: string): void {
  const encoded = secret.slice(6);
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64').length : 0;
  if (!secret.startsWith('whsec_') || bytes < 24 || bytes > 64)
    throw invalidParams('delivery.secret must be "whsec_" followed by the base64 of 24 to 64 random bytes.');
}

const isLoopback = (host: string) => host === '127.0.0.1' || host === '[::1]';

/**
 * A callback URL as the subscription keeps it (E11, E12): `https` (or `http` to the loopback address where tests
 * allow it), no credentials, no fragment, and no host the worker's outbound guard would refuse without DNS (an
 * address literal of a class it refuses, `localhost` with or without its final dot, a metadata service's name:
 * `hostRefusal`, the guard's own classes). Names are checked again where they resolve: the guard, at each delivery.
 */
function checkCallbackUrl(raw: string, settings: Pick<EventsSettings, 'allowLoopbackCallbacks'>): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidParams('delivery.url is not a URL.');
  }
  const loopbackAllowed = settings.allowLoopbackCallbacks && isLoopback(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopbackAllowed))
    throw invalidParams('delivery.url must use https.');
  if (url.username || url.password || url.hash)
    throw invalidParams('delivery.url may carry no credentials or fragment.');
  const refusal = loopbackAllowed ? undefined : hostRefusal(url.hostname);
  if (refusal)
    throw invalidParams(`delivery.url names a ${refusal} address (a private, loopback or reserved one is refused).`);
  return url.href;
}

/** The TTL granted: the suggestion (none: the default; `null`: the most), within [60 s, the most] (E13). */
function grantedTtl(ttlMs: number | null | undefined, settings: EventsSettings): number {
  const asked = ttlMs === undefined ? settings.webhookDefaultTtlMs : ttlMs === null ? settings.webhookMaxTtlMs : ttlMs;
  return Math.max(MIN_WEBHOOK_TTL_MS, Math.min(asked, settings.webhookMaxTtlMs));
}

/**
 * `events/subscribe` (E9-E14): registers or refreshes the caller's webhook subscription (the same key: the same id,
 * the TTL granted again, the secret replaced), its secret sealed for the workers.
 */
export async function subscribeWebhook(
  deps: EventsDeps,
  caller: Caller,
  params: SubscribeParams,
  request: EventRequest,
): Promise<Record<string, unknown>> {
  requireAuthenticated(caller);
  const { mode } = params.delivery;
  if (mode !== 'webhook')
    throw unsupported(`events/subscribe delivers by webhook only (not "${mode}").`, {
      feature: 'deliveryMode',
      value: mode,
    });
  if (!deps.sealSecret)
    throw unsupported('This deployment does not deliver events by webhook.', {
      feature: 'deliveryMode',
      value: 'webhook',
    });
  checkSecret(params.delivery.secret);
  const url = checkCallbackUrl(params.delivery.url, deps.settings);
  const cursor = params.cursor ?? null;
  if (cursor !== null && !CURSOR_PATTERN.test(cursor)) throw invalidParams('Unknown cursor: not one of this server.');
  const args = params.arguments ?? {};
  const type = resolveEventType(
    caller,
    { name: params.name, arguments: args, delivery: 'webhook' },
    { sink: deps.audit, requestId: request.id },
  );
  const now = nowOf(deps);
  // Never past the caller's token (an OAuth or narrowed token's expiry): the subscription ends with it.
  const tokenExpiry = caller.credential.kind === 'anonymous' ? undefined : caller.credential.expiresAt;
  const expiresAt = Math.min(now + grantedTtl(params.ttlMs, deps.settings), tokenExpiry ?? Infinity);
  const unsealed = subscriptionOf(caller, type, {
    arguments: args,
    delivery: 'webhook',
    expiresAt,
    callback: { url, secretSealed: '' },
    now,
    owner: request.owner,
  });
  const secretSealed = await deps.sealSecret(params.delivery.secret, unsealed.id);
  const sub = { ...unsealed, callback: { url, secretSealed } };
  const { created, tail } = await storeSubscription(deps, caller, sub, request.id);
  return {
    resultType: 'complete',
    id: sub.id,
    refreshBefore: new Date(expiresAt).toISOString(),
    cursor: !created && cursor !== null ? cursor : tail,
    truncated: created && cursor !== null,
  };
}

/** `events/unsubscribe` (E15): the same key resolves the subscription; none: `NotFound`. */
export async function unsubscribeWebhook(
  deps: EventsDeps,
  caller: Caller,
  params: UnsubscribeParams,
  requestId: string | number,
): Promise<Record<string, unknown>> {
  requireAuthenticated(caller);
  const type = eventTypesOf(caller.loaded).get(params.name);
  if (!type) throw notFound(`Unknown event type: ${params.name}`, 'event');
  let url: string;
  try {
    url = new URL(params.delivery.url).href;
  } catch {
    throw invalidParams('delivery.url is not a URL.');
  }
  const { catalog } = caller.loaded;
  const id = subscriptionIdOf({
    workspaceId: catalog.workspaceId,
    serverId: catalog.serverId,
    principal: eventPrincipal(caller),
    name: params.name,
    arguments: params.arguments ?? {},
    delivery: 'webhook',
    callbackUrl: url,
  });
  const instanceId = type.entry.source.instanceId;
  const sub = await readSubscription(deps.redis, instanceId, id);
  if (!sub || !(await removeSubscription(deps.redis, instanceId, id)))
    throw notFound('No subscription of this caller matches that event type, arguments and URL.', 'subscription');
  subscriptionAudit(deps, caller, sub, { action: 'event.unsubscribed', requestId });
  return { resultType: 'complete' };
}
