import { z } from 'zod';
import { DelegationLimit } from './delegation.ts';
import { SessionOfJob } from './session.ts';

/**
 * MCP Events (the `io.modelcontextprotocol/events` extension, SEP-3415; docs/events.md): event types declared by the
 * same sources as tools, deliveries received and verified by the worker, subscriptions per principal, and what each
 * subscription has been given, kept in Redis. These are the shapes the control plane, the edge and the worker share.
 *
 * The flow: a provider POSTs a delivery to the edge's inbound URL for a connector instance; the edge queues it as
 * it came (`InboundDelivery`) without reading it; the worker verifies it with the instance's secret, turns it into an
 * occurrence (`EventOccurrence`), and fans it out to every subscription of that instance and event type: the
 * subscription's arguments filter it, its conditions and guardrails judge it, its quota counts it, and what passes is
 * appended to the subscription's own stream (`subscriptionStreamKey`). The edge answers `events/poll` and
 * `events/stream` from that stream; the worker POSTs it to a webhook subscription's callback.
 */

const eventDeliveryModes = ['poll', 'push', 'webhook'] as const;
const EventDeliveryMode = z.enum(eventDeliveryModes);

/**
 * How a provider signs its deliveries (each verified by the worker with the instance's webhook secret): GitHub, Stripe,
 * Slack, Standard Webhooks, Jira (`x-hub-signature: sha256=…`, a webhook with a secret) and Google Calendar push
 * notifications (the channel's `x-goog-channel-token`, the secret given when the channel was made).
 */
const webhookProviders = ['github', 'stripe', 'slack', 'standard', 'jira', 'google_calendar'] as const;
export const WebhookProvider = z.enum(webhookProviders);
export type WebhookProvider = z.infer<typeof WebhookProvider>;

/** An event type as `events/list` shows it. */
const EventTypeDefinition = z.object({
  name: z.string().min(1).max(128),
  title: z.string().optional(),
  description: z.string().optional(),
  /** JSON Schema of the subscription's arguments. */
  inputSchema: z.record(z.string(), z.unknown()),
  /** JSON Schema of an occurrence's `data`. */
  payloadSchema: z.record(z.string(), z.unknown()).optional(),
  delivery: z.array(EventDeliveryMode).min(1),
});

/**
 * One event type a server exposes, in its catalog. `match`: the provider's own type names that make an occurrence of
 * it (GitHub `push`, `issues.opened`; Stripe `payment_intent.succeeded`). `filters`: each subscription argument → the
 * JSON Pointer into the payload it must equal (GitHub `repository` → `/repository/full_name`); an argument not named
 * here filters nothing.
 */
export const CatalogEventType = z.object({
  event: EventTypeDefinition,
  source: z.object({ connector: z.string(), instance: z.string(), instanceId: z.string() }),
  /** `mcp`: an external MCP server's event type (`external`), polled by the worker, never a webhook. */
  match: z.object({
    provider: z.union([WebhookProvider, z.literal('mcp')]),
    types: z.array(z.string().min(1)).min(1),
  }),
  filters: z.record(z.string(), z.string()).optional(),
  /**
   * An external MCP server's event type (docs/events.md "External MCP servers' events"): where the worker polls it
   * (`events/poll` with `match.types[0]` as the name), with the server's sealed headers (secret names only).
   * `source.instanceId` is then `mcp-<id>`, the key of its subscriptions in Redis.
   */
  external: z
    .object({
      server: z.string(),
      url: z.string(),
      headersSecret: z.string().optional(),
      headerSecrets: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
});
export type CatalogEventType = z.infer<typeof CatalogEventType>;

/** A provider's delivery as the edge received it: never parsed or judged there (the worker verifies it). */
export const InboundDelivery = z.object({
  v: z.literal(1),
  workspaceId: z.string(),
  instanceId: z.string(),
  receivedAt: z.string(),
  /** The request's headers, lower-cased names (only those a provider signs with or names its event by). */
  headers: z.record(z.string(), z.string()),
  /** The raw body, base64 (signatures are over the exact bytes). */
  body: z.string(),
  /**
   * What the delivery holds of its instance's and its source address's bounds while queued (`inboundHeldKey`): the
   * member in both sets, and the address's digest (never the address). Released by the worker when it is handled.
   */
  held: z.object({ member: z.string().max(128), address: z.string().max(64) }).optional(),
});
export type InboundDelivery = z.infer<typeof InboundDelivery>;

/** A verified occurrence: `eventId` is stable (the provider's delivery id when it has one) so clients drop duplicates. */
export const EventOccurrence = z.object({
  eventId: z.string(),
  /** The event type's name (as the server exposes it). */
  name: z.string(),
  timestamp: z.string(),
  data: z.unknown(),
});
export type EventOccurrence = z.infer<typeof EventOccurrence>;

/** Who subscribed: the same principal as a tool call's (key, token subject, person). */
export const EventPrincipal = z.object({
  keyId: z.string().optional(),
  subject: z.string().optional(),
  username: z.string().optional(),
  /** A narrowed token's id (ADR 0084): its subscriptions are its own, not its key's, and end with it. */
  tokenId: z.string().optional(),
});
export type EventPrincipal = z.infer<typeof EventPrincipal>;

/**
 * The credential a subscription was made with, judged again at each delivery (docs/events.md "A
 * subscription follows its credential"): the API key by hash (a key's, or a narrowed token's parent key), a narrowed
 * token's chain of ids (one revoked ends it), when the token expires, and the person it acts for by id. Never a
 * credential itself.
 */
export const SubscriberCredential = z.object({
  keyHash: z.string().optional(),
  tokenChain: z.array(z.string()).optional(),
  /** Epoch ms: the OAuth or narrowed token's expiry. */
  expiresAt: z.number().int().optional(),
  /** The id of the person `principal.username` names, when it subscribed. */
  userId: z.string().optional(),
  /** A narrowed token's conditions (its own and its ancestors'): each occurrence is given only when every one holds. */
  conditions: z.array(z.string()).optional(),
  /**
   * A narrowed token's limits on calls (its own and its ancestors'): each occurrence given spends one call of each, in
   * the counters its calls spend; none left ends the subscription.
   */
  limits: z.array(DelegationLimit).optional(),
});
export type SubscriberCredential = z.infer<typeof SubscriberCredential>;

/**
 * A subscription, kept in Redis by the edge (`subscriptionsKey` of its instance) and read by the worker's fan-out.
 * `id` is derived from (principal, server, name, canonical arguments, delivery[, callback url]) so the same
 * subscription made twice is one. `expiresAt` (ms): a webhook subscription's TTL, refreshed by the client; a poll or
 * push subscription's idle limit, refreshed by each poll or stream.
 */
export const EventSubscription = z.object({
  v: z.literal(1),
  id: z.string(),
  workspaceId: z.string(),
  serverId: z.string(),
  instanceId: z.string(),
  name: z.string(),
  arguments: z.record(z.string(), z.unknown()),
  principal: EventPrincipal,
  delivery: EventDeliveryMode,
  /** Webhook only: where deliveries go (checked by the outbound guard) and the signing secret, sealed. */
  callback: z.object({ url: z.string().url(), secretSealed: z.string() }).optional(),
  createdAt: z.number().int(),
  expiresAt: z.number().int(),
  /**
   * Who the subscription counts against (the edge's `EVENTS_MAX_SUBSCRIPTIONS_PER_CALLER`): a digest of the caller's
   * person, else key, else token subject, else an anonymous caller's client address (never the address itself).
   */
  owner: z.string().max(80).optional(),
  /**
   * The subscriber's session (ADR 0078), when it subscribed from one: an occurrence given to it brings `untrusted`
   * (provider data) into these scopes, as a tool result labelled so would.
   */
  session: SessionOfJob.optional(),
  /** What it was made with (absent: an anonymous caller's, or one made before credentials were kept: ended). */
  credential: SubscriberCredential.optional(),
});
export type EventSubscription = z.infer<typeof EventSubscription>;

/** Every subscription of one connector instance: a hash, field = subscription id, value = its JSON. */
export const subscriptionsKey = (instanceId: string): string => `{ev:${instanceId}}:subs`;

/** What one subscription has been given, in order: a Redis stream (its entry ids are the cursors). */
export const subscriptionStreamKey = (instanceId: string, subscriptionId: string): string =>
  `{ev:${instanceId}}:sub:${subscriptionId}`;

/** Deliveries already taken (a provider's delivery id), to refuse replays: a set member per id, with a lifetime. */
export const inboundSeenKey = (instanceId: string): string => `{ev:${instanceId}}:seen`;

/**
 * The deliveries of one instance queued and not yet handled (sorted set: member `<bytes>:<id>`, score: when its hold
 * lapses, ms), bounded by the edge in bytes (`INBOUND_MAX_QUEUED_BYTES_PER_INSTANCE`); with `addressDigest`, those
 * of one source address (`INBOUND_MAX_QUEUED_BYTES_PER_ADDRESS`). Released by the worker when a delivery is handled.
 */
export const inboundHeldKey = (instanceId: string, addressDigest?: string): string =>
  addressDigest === undefined ? `{ev:${instanceId}}:held` : `{ev:${instanceId}}:held:${addressDigest}`;

/** The BullMQ queue of inbound deliveries (edge → worker). */
export const INBOUND_QUEUE = 'inbound-events';

/**
 * Which servers expose event types of one connector instance (hash: server id → JSON `EventSource`), published with
 * their catalogs: the edge's inbound URL resolves an instance to its workspace with it (no secret), and answers a
 * Slack instance's `url_verification`.
 */
export const EventSource = z.object({ workspaceId: z.string(), provider: WebhookProvider });
export type EventSource = z.infer<typeof EventSource>;

export const eventSourcesKey = (instanceId: string): string => `{ev:${instanceId}}:sources`;

/** Where the worker delivers one webhook subscription's stream from (string: the last entry id delivered). */
export const webhookCursorKey = (instanceId: string, subscriptionId: string): string =>
  `{ev:${instanceId}}:cursor:${subscriptionId}`;

/** A webhook subscription's delivery lock (one worker delivers it at a time; string, expiring). */
export const webhookLockKey = (instanceId: string, subscriptionId: string): string =>
  `{ev:${instanceId}}:lock:${subscriptionId}`;

/** The connector instance's webhook signing secret in the secrets store (set with the instance's `webhook_secret`). */
export const webhookSecretName = (workspaceId: string, instanceId: string): string =>
  `ws/${workspaceId}/connector-instances/${instanceId}/webhook/secret`;

/** Set of webhook subscriptions with entries to deliver (member `<instanceId>\n<subscriptionId>`), under the prefix. */
export const webhookPendingKey = (prefix: string): string => `${prefix}:events:webhooks-pending`;

/** String (`1`, expiring): a callback confirmed it wants deliveries (the verification handshake), per principal and URL. */
export const webhookVerifiedKey = (instanceId: string, who: string): string => `{ev:${instanceId}}:verified:${who}`;

/**
 * The servers whose catalogs hold external MCP servers' event types (set of server ids, under the prefix): the
 * worker's poller reads their subscriptions and polls the external servers (`events/poll`).
 */
export const externalEventServersKey = (prefix: string): string => `${prefix}:events:external-servers`;

/** Where the worker's poller is in an external server's events, per event type and arguments (string: its cursor). */
export const externalEventCursorKey = (instanceId: string, group: string): string =>
  `{ev:${instanceId}}:ext-cursor:${group}`;

/** The poll lock of one (event type, arguments) group of an external server: one worker polls it (string, expiring). */
export const externalEventLockKey = (instanceId: string, group: string): string =>
  `{ev:${instanceId}}:ext-lock:${group}`;
