import { json, problems } from '../../openapi/registry.ts';
import { operation, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { EventDeliveryList, EventSubscriptionList } from './openapi.ts';
import { EventSubscriptionParams, ListDeliveriesQuery, ListEventSubscriptionsQuery } from './schemas.ts';

const tags = ['event subscriptions'];

/**
 * MCP Events subscriptions as the edges keep them (ADR 0081, docs/events.md "Seeing subscriptions"), read-only: each
 * with what its webhook deliveries' execution records say. Read as the records are (a viewer and up).
 */
export const eventSubscriptionsOperations: Operation[] = [
  operation({
    route: {
      method: 'get',
      path: '/event_subscriptions',
      'x-server-limited-keys': 'filtered',
      operationId: 'listEventSubscriptions',
      tags,
      summary: 'List the workspace’s event subscriptions, with their deliveries counted',
      description:
        'Every subscription of the workspace’s connector instances (`events/poll`, `events/stream`, ' +
        '`events/subscribe`), newest first; `server_id` keeps one server’s. Each: event type, server, principal, ' +
        'delivery mode, the callback’s origin (never its path, secret or headers), `expiresAt`, the occurrences in ' +
        'its stream, and from the webhook deliveries’ execution records the counts delivered and failed, the last ' +
        'delivery’s time and the latest failure’s category. A key limited to servers sees its servers’ only.',
      responses: { 200: json('The subscriptions.', EventSubscriptionList), ...problems(403, 422) },
    },
    query: ListEventSubscriptionsQuery,
    handler: handlers.listEventSubscriptions,
  }),
  operation({
    route: {
      method: 'get',
      path: '/event_subscriptions/{id}/deliveries',
      'x-server-limited-keys': 'filtered',
      operationId: 'listEventDeliveries',
      tags,
      summary: 'List a subscription’s latest webhook deliveries',
      description:
        'From their execution records (tool `events/<subscription id>`), newest first: the occurrence’s `eventId`, ' +
        'when, `delivered` or `failed`, the attempts, the failure’s category. 404 for a subscription the workspace ' +
        'does not have (or has no more).',
      responses: { 200: json('The deliveries.', EventDeliveryList), ...problems(403, 404, 422) },
    },
    params: EventSubscriptionParams,
    query: ListDeliveriesQuery,
    handler: handlers.listEventDeliveries,
  }),
];
