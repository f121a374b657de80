import { createHash, randomUUID } from 'node:crypto';
import {
  inboundSeenKey,
  webhookSecretName,
  type AuditEventInput,
  type ExecutionRecord,
  type InboundDelivery,
} from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { fanOut, forgetGiven, type FanOutDeps, type Given } from './fan-out.ts';
import type { EventSources, InstanceEvents } from './sources.ts';
import { verifyDelivery, type RefusalReason } from './verify.ts';

export interface InboundDeps extends FanOutDeps {
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  sources: Pick<EventSources, 'of'>;
  /** The worker's secret resolver: the instance's webhook secret, never logged or passed on. */
  secret: (name: string) => Promise<string | undefined>;
  records: { add(record: ExecutionRecord): void };
  audit: { add(event: AuditEventInput): void };
  toleranceMs: number;
  replayWindowMs: number;
}

type Refusal = RefusalReason | 'replay' | 'no_secret';

/** What every execution record of an inbound delivery says: the tool `inbound/<provider>`, no caller, no step. */
function deliveryRecord(deps: InboundDeps, delivery: InboundDelivery, events: InstanceEvents, invocationId: string) {
  const server = events.servers[0]!;
  return {
    v: 1 as const,
    invocationId,
    workspaceId: events.workspaceId,
    serverId: server.serverId,
    catalogVersion: server.catalogVersion,
    tool: `inbound/${events.provider}`,
    caller: {},
    startedAt: delivery.receivedAt,
    durationMs: Math.max(0, deps.now() - Date.parse(delivery.receivedAt)),
    steps: [],
  };
}

/** A refused delivery's execution record (the tool named `inbound/<provider>`) and its audit event: no payload. */
function recordRefusal(
  deps: InboundDeps,
  delivery: InboundDelivery,
  events: InstanceEvents,
  refusal: { reason: Refusal; message: string; deliveryId?: string | undefined },
): void {
  const at = new Date(deps.now()).toISOString();
  const id = randomUUID();
  deps.records.add({
    ...deliveryRecord(deps, delivery, events, id),
    outcome: 'rejected',
    errorCode: `events.inbound_${refusal.reason}`,
    message: `inbound delivery refused: ${refusal.message}`,
  });
  deps.audit.add({
    id,
    at,
    workspaceId: events.workspaceId,
    actor: { type: 'anonymous', id: null, name: events.provider },
    action: 'events.inbound_refused',
    resource: { type: 'connector_instance', id: delivery.instanceId },
    outcome: 'refused',
    status: null,
    source: { requestId: id, traceId: null, clientAddress: null, userAgent: delivery.headers['user-agent'] ?? null },
    changes: null,
    details: {
      reason: refusal.reason,
      message: refusal.message,
      provider: events.provider,
      ...(refusal.deliveryId ? { deliveryId: refusal.deliveryId.slice(0, 256) } : {}),
    },
  });
  deps.log.info({ instanceId: delivery.instanceId, reason: refusal.reason }, 'inbound delivery refused');
}

/** The longest fan-out summary an accepted delivery's record keeps (one line per subscription not given it). */
const MAX_SUMMARY = 2000;

/**
 * An accepted delivery's execution record (the tool `inbound/<provider>`, `success`): how many of the instance's
 * subscriptions it was given to, and why not to each other one (filters, access, a guardrail withholding it, a quota).
 * No payload: the reasons name rules and subscription ids only.
 */
function recordGiven(
  deps: InboundDeps,
  delivery: InboundDelivery,
  events: InstanceEvents,
  fanned: { deliveryId: string; given: readonly Given[] },
): void {
  const to = fanned.given.filter((g) => g.given).length;
  const not = fanned.given.flatMap((g) => (g.given ? [] : [`${g.id}: ${g.why}`]));
  const summary = `delivery ${fanned.deliveryId} given to ${to} of ${fanned.given.length} subscriptions`;
  const message = not.length > 0 ? `${summary}; not to ${not.join('; ')}` : summary;
  deps.records.add({
    ...deliveryRecord(deps, delivery, events, randomUUID()),
    outcome: 'success',
    message: message.length > MAX_SUMMARY ? `${message.slice(0, MAX_SUMMARY - 1)}…` : message,
  });
}

/**
 * Whether the delivery was taken within the replay window, by its replay key (a signed delivery id, or the signed
 * body's digest: `verify.ts`); the set holds keys scored by when they expire.
 */
async function seenBefore(deps: InboundDeps, instanceId: string, replayKey: string): Promise<boolean> {
  const score = await deps.redis.zscore(inboundSeenKey(instanceId), replayKey);
  return score !== null && Number(score) > deps.now();
}

/** Remembers a delivery fanned out (after the fan-out: a retry of the same job is not a replay; keys expire). */
async function markSeen(deps: InboundDeps, instanceId: string, replayKey: string): Promise<void> {
  const key = inboundSeenKey(instanceId);
  const now = deps.now();
  await deps.redis
    .multi()
    .zremrangebyscore(key, '-inf', String(now))
    .zadd(key, String(now + deps.replayWindowMs), replayKey)
    .pexpire(key, deps.replayWindowMs)
    .exec();
}

/** How long a claim on a delivery holds without its handling ending (a killed worker's lapses after it). */
const CLAIM_MS = 60_000;

/** Releases a claim only while it is still this handling's. */
const RELEASE_CLAIM = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** The claim's key: beside the seen set (same hash tag), named by a digest of the replay key. */
const claimKey = (instanceId: string, replayKey: string): string =>
  `${inboundSeenKey(instanceId)}:claim:${createHash('sha256').update(replayKey).digest('hex').slice(0, 32)}`;

/**
 * One delivery (its replay key) is fanned out by one handling at a time: a provider's retry queued beside the first copy (the edge
 * that queued it died before answering) would otherwise pass the seen check while the first is still fanning out,
 * and every subscriber would be given it twice. Runs `fan` under the claim; a claim held by another handling throws
 * (the queue retries it with backoff, and it then meets the seen set: a replay).
 */
async function underClaim<T>(
  deps: InboundDeps,
  where: { instanceId: string; replayKey: string },
  fan: () => Promise<T>,
) {
  const key = claimKey(where.instanceId, where.replayKey);
  const token = randomUUID();
  if ((await deps.redis.set(key, token, 'PX', CLAIM_MS, 'NX')) !== 'OK')
    throw new Error('this delivery is being fanned out by another job; tried again later');
  try {
    return await fan();
  } finally {
    await deps.redis.eval(RELEASE_CLAIM, 1, key, token).catch(() => undefined);
  }
}

/**
 * One queued delivery (`INBOUND_QUEUE`): the instance's event types (none: dropped), its webhook secret (none:
 * refused), the provider's signature and timestamp, the replay window, then the fan-out. A refusal makes an execution
 * record and an audit event, no occurrence. Throws only on what a retry may cure (Redis, the secrets store).
 */
export async function handleInbound(deps: InboundDeps, delivery: InboundDelivery): Promise<void> {
  const { instanceId } = delivery;
  const events = await deps.sources.of(instanceId);
  if (!events || events.servers.length === 0 || events.workspaceId !== delivery.workspaceId) {
    deps.log.info({ instanceId }, 'inbound delivery dropped: the instance has no event types');
    return;
  }
  const secret = await deps.secret(webhookSecretName(events.workspaceId, instanceId));
  if (!secret)
    return recordRefusal(deps, delivery, events, {
      reason: 'no_secret',
      message: 'the instance has no webhook secret',
    });
  const verdict = verifyDelivery({
    provider: events.provider,
    secret,
    headers: delivery.headers,
    body: Buffer.from(delivery.body, 'base64'),
    now: deps.now(),
    toleranceMs: deps.toleranceMs,
  });
  if (!verdict.ok) return recordRefusal(deps, delivery, events, verdict);
  const { deliveryId, replayKey } = verdict;
  const replay = { reason: 'replay' as const, message: 'this delivery was already taken', deliveryId };
  if (await seenBefore(deps, instanceId, replayKey)) return recordRefusal(deps, delivery, events, replay);
  const given = await underClaim(deps, { instanceId, replayKey }, async () => {
    // Checked again under the claim: a copy whose handling ended since the check above was given already.
    if (await seenBefore(deps, instanceId, replayKey)) return undefined;
    const out = await fanOut(
      deps,
      { instanceId, workspaceId: events.workspaceId, servers: events.servers },
      { eventId: deliveryId, types: verdict.types, data: verdict.data, timestamp: delivery.receivedAt },
    );
    await markSeen(deps, instanceId, replayKey);
    // A run after this one meets the seen set: what it was given to need not be remembered.
    await forgetGiven(deps, instanceId, deliveryId);
    return out;
  });
  if (!given) return recordRefusal(deps, delivery, events, replay);
  recordGiven(deps, delivery, events, { deliveryId, given });
  deps.log.debug(
    {
      instanceId,
      eventId: deliveryId,
      types: verdict.types,
      given: given.filter((g) => g.given).length,
      fanOut: given,
    },
    'inbound delivery fanned out',
  );
}
