import { clientKey } from '@toolplane/config';
import { EventSource, eventSourcesKey, type InboundDelivery } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { InboundQueue, type InboundBounds } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';
import express, { type Express, type Request, type Response } from 'express';
import { UnauthenticatedLimiter } from '../identity/rate-limit.ts';
import { RuntimeStateProbe } from '../state/runtime-state.ts';

/** The headers a provider signs with or names its delivery by: the only ones queued (lower-case names). */
const KEPT_HEADERS = new RegExp(
  `^(${[
    'content-type',
    'user-agent',
    'x-github-[a-z-]+',
    'x-hub-signature(-256)?',
    'x-atlassian-webhook-identifier',
    'x-goog-[a-z-]+',
    'stripe-signature',
    'x-slack-[a-z-]+',
    'webhook-(id|timestamp|signature)',
  ].join('|')})$`,
);

/** Headers that name the delivery (the provider sends the same one again on a retry). */
const DELIVERY_ID_HEADERS = ['x-github-delivery', 'webhook-id', 'x-atlassian-webhook-identifier'] as const;

export interface InboundRouteOptions {
  redis: RedisClient;
  prefix: string;
  log: Logger;
  maxBodyBytes: number;
  /** Requests per client address and window (UNAUTH_RATE_LIMIT, UNAUTH_RATE_WINDOW_SECONDS: a public route's budget). */
  rateLimit: { points: number; windowSeconds: number };
  /** What one instance and one client address may have queued at once (ADR 0089). */
  bounds: InboundBounds;
}

/** How long a delivery refused for a full bound is told to wait (a worker handles a queued one in milliseconds). */
const FULL_RETRY_AFTER_SECONDS = 5;

/** The first source of the instance (its workspace and how its provider signs), or undefined: no event types. */
async function sourceOf(redis: RedisClient, instanceId: string): Promise<EventSource | undefined> {
  const all = await redis.hvals(eventSourcesKey(instanceId));
  for (const raw of all) {
    const parsed = EventSource.safeParse(JSON.parse(raw));
    if (parsed.success) return parsed.data;
  }
  return undefined;
}

/**
 * Slack's `url_verification` (sent once when the Request URL is saved, and signed as any delivery): answered here with
 * its `challenge`, since Slack waits for it; the edge holds no secret, and the echo carries nothing of ours (it tells
 * only what a 202 tells: that the URL takes Slack's deliveries). Undefined for anything else.
 */
function slackChallenge(source: EventSource, body: Buffer): string | undefined {
  if (source.provider !== 'slack' || body.length > 4096) return undefined;
  try {
    const value = JSON.parse(body.toString('utf8')) as { type?: unknown; challenge?: unknown };
    return value.type === 'url_verification' && typeof value.challenge === 'string' ? value.challenge : undefined;
  } catch {
    return undefined;
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
const present = (v: string | undefined): boolean => v !== undefined && v !== '';

/**
 * Whether the headers carry a signature of the form the instance's provider signs with (checked without the secret,
 * which the edge never holds): a delivery without one could only be refused by the worker, so it is answered 401 and
 * nothing is queued. The signature itself is the worker's to verify.
 */
const SIGNED: Record<EventSource['provider'], (h: Readonly<Record<string, string>>) => boolean> = {
  github: (h) =>
    HEX64.test((h['x-hub-signature-256'] ?? '').replace(/^sha256=/, '')) &&
    present(h['x-github-event']) &&
    present(h['x-github-delivery']),
  stripe: (h) => {
    const parts = (h['stripe-signature'] ?? '').split(',').map((p) => p.trim());
    return parts.some((p) => /^t=\d+$/.test(p)) && parts.some((p) => HEX64.test(p.replace(/^v1=/, '')));
  },
  slack: (h) =>
    HEX64.test((h['x-slack-signature'] ?? '').replace(/^v0=/, '')) &&
    /^\d+$/.test(h['x-slack-request-timestamp'] ?? ''),
  standard: (h) =>
    present(h['webhook-id']) &&
    /^\d+$/.test(h['webhook-timestamp'] ?? '') &&
    /(^|\s)v1,[A-Za-z0-9+/]+=*/.test(h['webhook-signature'] ?? ''),
  jira: (h) =>
    HEX64.test((h['x-hub-signature'] ?? '').replace(/^sha256=/, '')) && present(h['x-atlassian-webhook-identifier']),
  google_calendar: (h) =>
    ['x-goog-channel-token', 'x-goog-channel-id', 'x-goog-message-number', 'x-goog-resource-state'].every((n) =>
      present(h[n]),
    ),
};

function keptHeaders(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers))
    if (KEPT_HEADERS.test(name) && typeof value === 'string') out[name] = value.slice(0, 2048);
  return out;
}

/**
 * `POST /hooks/{instanceId}`: a provider's delivery for a connector instance (MCP Events). Not MCP, no credential: the
 * worker verifies the signature with the instance's webhook secret, which the edge never reads; a delivery without a
 * signature of its provider's form is answered 401 and not queued (`SIGNED`). The raw bytes (capped
 * at MAX_BODY_BYTES) and the signing headers are queued on `INBOUND_QUEUE` as they came, and the answer is 202; an
 * instance without event types is a 404 (a 503 while the control plane's state marker is missing: its sources may
 * not be republished yet after Redis lost them, and the provider must retry); each client address has a public route's budget (429 past it). While
 * queued, a delivery holds its bytes against its instance's bound (503 past it) and its client address's (429): what
 * anyone can put in Redis through the URL is bounded, and nothing is kept of a delivery once handled (ADR 0089). The
 * queue shares the edge's connection (closed with it).
 */
export function inboundRoutes(http: Express, opts: InboundRouteOptions): void {
  const queue = new InboundQueue(opts.redis, opts.prefix, opts.bounds);
  const state = new RuntimeStateProbe(opts.redis, opts.prefix);
  const limiter = new UnauthenticatedLimiter(opts.rateLimit.points, opts.rateLimit.windowSeconds);
  const raw = express.raw({ limit: opts.maxBodyBytes, type: () => true });
  const receive = async (req: Request, res: Response): Promise<void> => {
    const address = clientKey(req.ip);
    const wait = await limiter.blockedFor(address);
    if (wait > 0) {
      res.set('retry-after', String(Math.ceil(wait / 1000)));
      return void res.status(429).json({ error: 'too many requests' });
    }
    limiter.count(address);
    const instanceId = String(req.params.instanceId);
    const source = await sourceOf(opts.redis, instanceId);
    if (!source) {
      await state.assertComplete(); // restoring: thrown, answered 503 below
      return void res.status(404).json({ error: 'no such inbound URL' });
    }
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const challenge = slackChallenge(source, body);
    if (challenge !== undefined) return void res.type('text/plain').send(challenge);
    const headers = keptHeaders(req);
    if (!SIGNED[source.provider](headers)) {
      opts.log.debug({ instanceId, provider: source.provider }, 'inbound delivery not queued: unsigned');
      return void res.status(401).json({ error: `not signed as ${source.provider} signs its deliveries` });
    }
    const delivery: InboundDelivery = {
      v: 1,
      workspaceId: source.workspaceId,
      instanceId,
      receivedAt: new Date().toISOString(),
      headers,
      body: body.toString('base64'),
    };
    const deliveryId = DELIVERY_ID_HEADERS.map((h) => headers[h]).find((v) => v !== undefined);
    const admitted = await queue.add(delivery, { deliveryId, address });
    if ('refused' in admitted) {
      opts.log.debug({ instanceId, bytes: body.length, full: admitted.refused }, 'inbound delivery not queued: full');
      res.set('retry-after', String(FULL_RETRY_AFTER_SECONDS));
      // One address past its share: 429; the instance's whole share taken: 503 (the provider retries).
      return void res
        .status(admitted.refused === 'address' ? 429 : 503)
        .json({ error: `too many deliveries queued for this ${admitted.refused === 'address' ? 'address' : 'URL'}` });
    }
    opts.log.debug({ instanceId, bytes: body.length }, 'inbound delivery queued');
    res.status(202).json({ accepted: true });
  };
  http.post('/hooks/:instanceId', raw, (req, res, next) => {
    receive(req, res).catch((err: unknown) => {
      opts.log.warn({ err, instanceId: req.params.instanceId }, 'inbound delivery not queued');
      if (res.headersSent) return next(err);
      res.set('retry-after', '2').status(503).json({ error: 'not queued; try again' });
    });
  });
}
