import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookProvider } from '@toolplane/contracts';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

/** Why a delivery is refused (no occurrence is made of it). */
export type RefusalReason = 'bad_signature' | 'stale' | 'malformed';

/** A verified delivery: its id (the occurrence's `eventId`), the provider's type names it answers to, its payload. */
interface Verified {
  ok: true;
  deliveryId: string;
  /**
   * What a replay is known by within the replay window: the delivery id where the provider signs it (Stripe, Slack,
   * Standard Webhooks), else the digest of the signed body (GitHub and Jira sign the body only: their delivery id and
   * event type are unsigned headers, so the same signed body under another id or type is the same delivery).
   */
  replayKey: string;
  /** The provider's type, most precise first (GitHub `issues.opened`, then `issues`). */
  types: string[];
  data: unknown;
}

export type Verdict = Verified | { ok: false; reason: RefusalReason; message: string };

export interface VerifyInput {
  provider: WebhookProvider;
  secret: string;
  /** Lower-case names, as the edge queued them. */
  headers: Readonly<Record<string, string>>;
  body: Buffer;
  now: number;
  /** How far a signed timestamp may be from `now` (Stripe, Slack, Standard Webhooks). */
  toleranceMs: number;
}

const refuse = (reason: RefusalReason, message: string): Verdict => ({ ok: false, reason, message });

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const hmacHex = (secret: string, text: Buffer): string => createHmac('sha256', secret).update(text).digest('hex');

function json(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The replay key of a provider that signs the body alone. */
const bodyKey = (body: Buffer): string => `body:${createHash('sha256').update(body).digest('hex')}`;

/** GitHub: `x-hub-signature-256: sha256=<hex HMAC of the body>`; the delivery is `x-github-delivery`, no timestamp. */
function github({ secret, headers, body }: VerifyInput): Verdict {
  const signature = headers['x-hub-signature-256'] ?? '';
  if (!sameText(signature, `sha256=${hmacHex(secret, body)}`))
    return refuse('bad_signature', 'x-hub-signature-256 does not match the body');
  const data = json(body);
  const event = headers['x-github-event'];
  const deliveryId = headers['x-github-delivery'];
  if (!data || !event || !deliveryId)
    return refuse('malformed', 'x-github-event, x-github-delivery or a JSON body missing');
  const action = text(data.action);
  const types = action ? [`${event}.${action}`, event] : [event];
  return { ok: true, deliveryId, replayKey: bodyKey(body), types, data };
}

/** Seconds of a signed timestamp → whether it is within the tolerance of now. */
function fresh(seconds: number, { now, toleranceMs }: VerifyInput): boolean {
  return Number.isFinite(seconds) && Math.abs(now - seconds * 1000) <= toleranceMs;
}

/** Stripe: `stripe-signature: t=<s>,v1=<hex HMAC of "t.body">[,v1=…]`, the event's `id` and `type` in the body. */
function stripe(input: VerifyInput): Verdict {
  const parts = (input.headers['stripe-signature'] ?? '').split(',').map((p) => p.trim().split('='));
  const t = parts.find(([k]) => k === 't')?.[1];
  const signatures = parts.filter(([k]) => k === 'v1').map(([, v]) => v ?? '');
  if (!t || signatures.length === 0) return refuse('bad_signature', 'stripe-signature has no t= or v1=');
  const expected = hmacHex(input.secret, Buffer.concat([Buffer.from(`${t}.`), input.body]));
  if (!signatures.some((s) => sameText(s, expected)))
    return refuse('bad_signature', 'stripe-signature does not match the body');
  if (!fresh(Number(t), input)) return refuse('stale', 'stripe-signature is older than the tolerance');
  const data = json(input.body);
  const id = text(data?.id);
  const type = text(data?.type);
  if (!data || !id || !type) return refuse('malformed', 'the Stripe event has no id or type');
  return { ok: true, deliveryId: id, replayKey: id, types: [type], data };
}

/** Slack: `x-slack-signature: v0=<hex HMAC of "v0:ts:body">`, `x-slack-request-timestamp`; `event_id`, `event.type`. */
function slack(input: VerifyInput): Verdict {
  const ts = input.headers['x-slack-request-timestamp'] ?? '';
  const expected = `v0=${hmacHex(input.secret, Buffer.concat([Buffer.from(`v0:${ts}:`), input.body]))}`;
  if (!ts || !sameText(input.headers['x-slack-signature'] ?? '', expected))
    return refuse('bad_signature', 'x-slack-signature does not match the body');
  if (!fresh(Number(ts), input)) return refuse('stale', 'x-slack-request-timestamp is older than the tolerance');
  const data = json(input.body);
  const event = data?.event as Record<string, unknown> | undefined;
  const id = text(data?.event_id);
  const type = text(event?.type);
  if (!data || !id || !type) return refuse('malformed', 'the Slack event has no event_id or event.type');
  const subtype = text(event?.subtype);
  return { ok: true, deliveryId: id, replayKey: id, types: subtype ? [`${type}.${subtype}`, type] : [type], data };
}

/** Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`), checked by the `standardwebhooks` package. */
function standard(input: VerifyInput): Verdict {
  const { headers } = input;
  const id = headers['webhook-id'];
  const timestamp = Number(headers['webhook-timestamp']);
  try {
    new Webhook(input.secret).verify(input.body, {
      'webhook-id': id ?? '',
      'webhook-timestamp': headers['webhook-timestamp'] ?? '',
      'webhook-signature': headers['webhook-signature'] ?? '',
    });
  } catch (err) {
    if (!(err instanceof WebhookVerificationError)) return refuse('malformed', 'the webhook secret is not usable');
    return /timestamp/i.test(err.message) && Number.isFinite(timestamp)
      ? refuse('stale', 'webhook-timestamp is outside the tolerance')
      : refuse('bad_signature', 'webhook-signature does not match the body');
  }
  // The package's own tolerance is five minutes; a shorter one configured here applies too.
  if (!fresh(timestamp, input)) return refuse('stale', 'webhook-timestamp is older than the tolerance');
  const data = json(input.body);
  const type = text(data?.type);
  if (!data || !id || !type) return refuse('malformed', 'the payload has no type');
  return { ok: true, deliveryId: id, replayKey: id, types: [type], data };
}

/** Jira: `x-hub-signature: sha256=<hex HMAC of the body>`; `x-atlassian-webhook-identifier`; `webhookEvent`. */
function jira({ secret, headers, body }: VerifyInput): Verdict {
  if (!sameText(headers['x-hub-signature'] ?? '', `sha256=${hmacHex(secret, body)}`))
    return refuse('bad_signature', 'x-hub-signature does not match the body');
  const data = json(body);
  const type = text(data?.webhookEvent);
  const deliveryId = headers['x-atlassian-webhook-identifier'];
  if (!data || !type || !deliveryId) return refuse('malformed', 'the Jira event has no webhookEvent or identifier');
  return { ok: true, deliveryId, replayKey: bodyKey(body), types: [type], data };
}

/**
 * Google Calendar push notifications: no signature, the channel's token (`x-goog-channel-token`, the secret the channel
 * was made with) compared in constant time; the notification is its headers (the body is empty): channel, message
 * number, resource state (`sync`, `exists`, `not_exists`).
 */
function googleCalendar({ secret, headers }: VerifyInput): Verdict {
  if (!sameText(headers['x-goog-channel-token'] ?? '', secret))
    return refuse('bad_signature', 'x-goog-channel-token is not the channel token');
  const channel = headers['x-goog-channel-id'];
  const number = headers['x-goog-message-number'];
  const state = headers['x-goog-resource-state'];
  if (!channel || !number || !state) return refuse('malformed', 'the notification names no channel, number or state');
  const data = {
    channelId: channel,
    messageNumber: number,
    resourceState: state,
    resourceId: headers['x-goog-resource-id'] ?? null,
    resourceUri: headers['x-goog-resource-uri'] ?? null,
    changed: headers['x-goog-changed'] ?? null,
  };
  const deliveryId = `${channel}:${number}`;
  return { ok: true, deliveryId, replayKey: deliveryId, types: [state], data };
}

const verifiers: Record<WebhookProvider, (input: VerifyInput) => Verdict> = {
  github,
  stripe,
  slack,
  standard,
  jira,
  google_calendar: googleCalendar,
};

/** A delivery checked as its provider signs (docs/events.md, "Inbound deliveries"). Never throws. */
export function verifyDelivery(input: VerifyInput): Verdict {
  try {
    return verifiers[input.provider](input);
  } catch {
    return refuse('malformed', 'the delivery could not be read');
  }
}
