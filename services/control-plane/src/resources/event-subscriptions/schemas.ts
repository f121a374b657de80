import { z } from 'zod';

export const ListEventSubscriptionsQuery = z.object({
  server_id: z.uuid().optional().describe('Only the subscriptions of this server.'),
});
export type ListEventSubscriptionsQuery = z.output<typeof ListEventSubscriptionsQuery>;

export const EventSubscriptionParams = z.object({
  id: z
    .string()
    .min(1)
    .max(200)
    .describe('The subscription’s id (`sub_…`, as `events/subscribe` answers it and the webhook header names it).'),
});

export const ListDeliveriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).describe('At most this many deliveries (newest first).'),
});
export type ListDeliveriesQuery = z.output<typeof ListDeliveriesQuery>;
