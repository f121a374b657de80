import { randomUUID } from 'node:crypto';
import type { EventSubscription, ExecutionRecord, ExecutionStep } from '@toolplane/contracts';
import type { DeliveryAttempt, WebhookDelivery } from './webhooks.ts';

/** The attempts a delivery's record keeps (the last ones; each step keeps its attempt number). */
const KEPT_ATTEMPTS = 10;

/** The tool a subscription's delivery records name (docs/events.md "Seeing subscriptions"). */
const deliveryTool = (subscriptionId: string): string => `events/${subscriptionId}`;

function step(origin: string, eventId: string, attempt: DeliveryAttempt, n: number): ExecutionStep {
  const outcome =
    attempt.status > 0 ? 'response' : attempt.category === 'timeout' ? ('timeout' as const) : ('unreachable' as const);
  return {
    kind: 'http',
    name: eventId,
    method: 'POST',
    // The callback's origin only: its path and query may carry the receiver's own token.
    urlTemplate: origin,
    url: origin,
    ...(attempt.status > 0 ? { status: attempt.status } : {}),
    outcome,
    durationMs: attempt.durationMs,
    attempt: n,
  };
}

/**
 * The execution record of one webhook delivery that ended (taken by the callback, or given up on its 410 / 413): the
 * tool `events/<subscription id>`, one step per attempt (the occurrence's `eventId` as its name, the callback's
 * origin, the status), `errorCode` `events.delivery_<category>` when not taken. No payload, header or body.
 */
export function deliveryRecord(sub: EventSubscription, delivery: WebhookDelivery): ExecutionRecord {
  const origin = sub.callback ? new URL(sub.callback.url).origin : '';
  const first = delivery.attempts[0]!;
  const last = delivery.attempts.at(-1)!;
  const from = Math.max(0, delivery.attempts.length - KEPT_ATTEMPTS);
  const steps = delivery.attempts.slice(from).map((a, i) => step(origin, delivery.eventId, a, from + i + 1));
  const tries = `${delivery.attempts.length} attempt${delivery.attempts.length === 1 ? '' : 's'}`;
  return {
    v: 1,
    invocationId: randomUUID(),
    workspaceId: sub.workspaceId,
    serverId: sub.serverId,
    catalogVersion: 0,
    tool: deliveryTool(sub.id),
    // No caller: a delivery is no call of the subscriber's (least privilege reads callers from the records).
    caller: {},
    startedAt: new Date(first.startedAt).toISOString(),
    durationMs: Math.max(0, last.startedAt + last.durationMs - first.startedAt),
    outcome: delivery.taken ? 'success' : 'tool_error',
    ...(delivery.taken ? {} : { errorCode: `events.delivery_${last.category ?? 'http_4xx'}` }),
    message: delivery.taken
      ? `webhook delivery of ${delivery.name} taken after ${tries}`
      : `webhook delivery of ${delivery.name} given up by the callback after ${tries}`,
    steps,
  };
}
