import { z } from 'zod';

// The answers of the event subscription operations (operations.ts): never a secret, a callback's path, header or body.

const DeliveryMode = z.enum(['poll', 'push', 'webhook']);

const EventSubscriptionSummary = z
  .strictObject({
    id: z.string(),
    name: z.string().describe('The event type.'),
    serverId: z.string(),
    serverName: z.string().nullable(),
    instanceId: z.string().describe('The connector instance whose deliveries feed it.'),
    principal: z
      .strictObject({
        keyId: z.string().nullable(),
        keyName: z.string().nullable(),
        subject: z.string().nullable(),
        username: z.string().nullable(),
      })
      .describe('Who subscribed: the API key (and its name), the OAuth subject, the person (`x-username`).'),
    delivery: DeliveryMode,
    arguments: z.record(z.string(), z.unknown()).describe('The subscription’s arguments (its filters).'),
    callbackOrigin: z.string().nullable().describe('A webhook subscription’s callback: its origin only.'),
    createdAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    expired: z.boolean(),
    streamLength: z.number().int().describe('Occurrences in its stream: what it has been given, within retention.'),
    delivered: z.number().int().describe('Webhook deliveries the callback took (from the execution records).'),
    failed: z.number().int().describe('Webhook deliveries given up (from the execution records).'),
    lastDeliveryAt: z.iso.datetime().nullable(),
    lastError: z
      .string()
      .nullable()
      .describe('The category of the latest failed delivery (`http_4xx`, `http_5xx`, `timeout`, …), else null.'),
  })
  .meta({ id: 'EventSubscriptionSummary' });

export const EventSubscriptionList = z.strictObject({ data: z.array(EventSubscriptionSummary) });

export const EventDeliveryList = z
  .strictObject({
    subscriptionId: z.string(),
    data: z.array(
      z.strictObject({
        recordId: z.string().describe('Its execution record.'),
        eventId: z.string(),
        at: z.iso.datetime().describe('When the first attempt started.'),
        outcome: z.enum(['delivered', 'failed']),
        attempts: z.number().int(),
        errorCategory: z.string().nullable(),
        durationMs: z.number(),
      }),
    ),
  })
  .meta({ id: 'EventDeliveryList' });
