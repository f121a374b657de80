import { INVALID_PARAMS, ProtocolError } from '@modelcontextprotocol/server';
import { z } from 'zod';

/**
 * The MCP Events extension's wire (SEP-3415; docs/events.md "Wire shapes"): its identifier, the request params the
 * edge accepts (zod schemas of ours for the SDK's custom-method handlers), and its errors.
 */

const EVENTS_EXTENSION = 'io.modelcontextprotocol/events';

/** Where every push notification names its stream: the `events/stream` request's JSON-RPC id. */
export const SUBSCRIPTION_ID_META = 'io.modelcontextprotocol/subscriptionId';

/** The specification's codes (SEP-3415 "Error Handling"); `InvalidParams` is JSON-RPC's. */
const EVENT_ERRORS = {
  invalidParams: INVALID_PARAMS,
  notFound: -32023,
  forbidden: -32024,
  resourceExhausted: -32025,
  unsupported: -32026,
  callbackEndpointError: -32027,
} as const;

export const notFound = (message: string, kind: 'event' | 'subscription') =>
  new ProtocolError(EVENT_ERRORS.notFound, message, { kind });

export const forbidden = (reason: string) => new ProtocolError(EVENT_ERRORS.forbidden, reason, { reason });

export const invalidParams = (message: string, data?: Record<string, unknown>) =>
  new ProtocolError(EVENT_ERRORS.invalidParams, message, data);

export const unsupported = (message: string, data: Record<string, unknown>) =>
  new ProtocolError(EVENT_ERRORS.unsupported, message, data);

export const resourceExhausted = (message: string, max: number) =>
  new ProtocolError(EVENT_ERRORS.resourceExhausted, message, { limit: 'subscriptions', max });

/** A cursor: absent and `null` are the same ("start from now"); else an opaque string of ours. */
const Cursor = z.string().max(64).nullish();
const Arguments = z.record(z.string(), z.unknown()).optional();
const MaxAgeMs = z.number().int().min(0).nullish();

export const ListParams = z.looseObject({ cursor: z.string().nullish() }).optional();

export const PollParams = z.looseObject({
  name: z.string().min(1).max(128),
  arguments: Arguments,
  cursor: Cursor,
  maxAgeMs: MaxAgeMs,
  maxEvents: z.number().int().min(1).nullish(),
});
export type PollParams = z.infer<typeof PollParams>;

export const StreamParams = z.looseObject({
  name: z.string().min(1).max(128),
  arguments: Arguments,
  cursor: Cursor,
  maxAgeMs: MaxAgeMs,
});
export type StreamParams = z.infer<typeof StreamParams>;

export const SubscribeParams = z.looseObject({
  name: z.string().min(1).max(128),
  arguments: Arguments,
  delivery: z.looseObject({
    mode: z.string(),
    url: z.string().max(2048),
    secret: z.string().max(256),
  }),
  cursor: Cursor,
  maxAgeMs: MaxAgeMs,
  ttlMs: z.number().int().nullish(),
});
export type SubscribeParams = z.infer<typeof SubscribeParams>;

export const UnsubscribeParams = z.looseObject({
  name: z.string().min(1).max(128),
  arguments: Arguments,
  delivery: z.looseObject({ url: z.string().max(2048) }),
});
export type UnsubscribeParams = z.infer<typeof UnsubscribeParams>;

/** The capability, under the specification's `extensions` and the design sketch's top-level key (ADR 0081). */
export const EVENTS_CAPABILITIES = {
  extensions: { [EVENTS_EXTENSION]: { listChanged: false } },
  events: { listChanged: false },
};
