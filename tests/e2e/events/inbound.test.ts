import { createHash, createHmac, createPublicKey, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import {
  eventSourcesKey,
  sessionKey,
  subscriptionsKey,
  subscriptionStreamKey,
  type EventOccurrence,
  type EventSubscription,
} from '@toolplane/contracts';
import type { RedisClient } from '@toolplane/redis';
import { CompactEncrypt } from 'jose';
import { Webhook } from 'standardwebhooks';
import { stackRedis, startTestStack } from '../../helpers/stack.ts';
import { sourceCli } from '../../helpers/cli.ts';
import { logLines } from '../../helpers/records.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * MCP Events, inbound (docs/events.md): local mocks sign deliveries as GitHub and Stripe do and POST them to the edge's
 * inbound URL; the worker verifies them with the instance's webhook secret and fans them out to subscriptions
 * registered in Redis (as the edge registers them): each gets the occurrence in its stream (eventId: the provider's
 * delivery id), a subscription filtered on another repository gets nothing, a webhook subscription's callback (a
 * local server) gets it signed as Standard Webhooks with the subscription's secret. A bad signature, a replay and a
 * stale timestamp are refused, each with an execution record and an audit event and no occurrence; a card number in a
 * payload is redacted by the server's guardrail.
 */

const GITHUB_SECRET = `gh-${randomBytes(12).toString('hex')}`;
const STRIPE_SECRET = `whsec_${randomBytes(16).toString('hex')}`;
const CALLBACK_SECRET = `whsec_${randomBytes(24).toString('base64')}`;

let stack: Stack;
let api: ManagementClient;
let redis: RedisClient;
let callback: Server;
let callbackUrl: string;
/** What the callback received: body and headers, in order. */
const received: { body: string; headers: Record<string, string> }[] = [];

const github = { instanceId: '', serverId: '' };
const slack = { instanceId: '', serverId: '' };
const stripe = { instanceId: '', serverId: '' };

const eventTypes = {
  github: {
    provider: 'github',
    types: [
      {
        name: 'issue_opened',
        match: ['issues.opened'],
        input_schema: { type: 'object', properties: { repository: { type: 'string' } } },
        filters: { repository: '/repository/full_name' },
      },
    ],
  },
  slack: { provider: 'slack', types: [{ name: 'message', match: ['message'] }] },
  stripe: {
    provider: 'stripe',
    types: [{ name: 'payment_succeeded', match: ['payment_intent.succeeded'] }],
  },
};

const descriptor = (slug: string, events: unknown) => ({
  metadata: { name: slug, slug, version: '1.0.0' },
  authentication: [],
  operations: [{ operation_id: 'ping', endpoint: 'https://api.example.com/ping', method: 'GET', parameters: [] }],
  mcp_config: {
    enabled: true,
    server_name: slug,
    server_description: `${slug} events`,
    route_mappings: [{ operation_id: 'ping', mcp_tool_name: 'ping', mcp_tool_description: 'Ping' }],
  },
  events,
});

async function source(slug: string, events: unknown, webhookSecret: string) {
  const connector = await unwrap(api.POST('/connectors', { body: descriptor(slug, events) as never }));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: slug, webhook_secret: webhookSecret },
    }),
  );
  const server = await unwrap(
    api.POST('/mcp_manager', {
      body: {
        name: `${slug}-events`,
        mode: 'NORMAL',
        connectorInstanceId: instance.id,
        // The event types the server exposes (ADR 0081), as it names its tools.
        config: { events: (events as { types: { name: string }[] }).types.map((t) => t.name) },
      },
    }),
  );
  await waitFor(`${slug}'s event types published`, async () => (await redis.hlen(eventSourcesKey(instance.id))) > 0);
  return { instanceId: instance.id, serverId: server.id };
}

/** A subscription as the edge writes it (its id made up here). */
async function subscribe(
  at: { instanceId: string; serverId: string },
  name: string,
  extra: Partial<EventSubscription> = {},
): Promise<EventSubscription> {
  const sub: EventSubscription = {
    v: 1,
    id: `sub-${randomBytes(6).toString('hex')}`,
    workspaceId: (await workspaceId())!,
    serverId: at.serverId,
    instanceId: at.instanceId,
    name,
    arguments: {},
    principal: { keyId: 'test-key' },
    delivery: 'poll',
    createdAt: Date.now(),
    expiresAt: Date.now() + 3_600_000,
    // The credential it was made with, judged at each delivery (docs/events.md): a key that stands, the stack's own.
    credential: { keyHash: createHash('sha256').update(stack.bootstrapKey).digest('hex') },
    ...extra,
  };
  await redis.hset(subscriptionsKey(at.instanceId), sub.id, JSON.stringify(sub));
  return sub;
}

/** A callback secret sealed to the workers for one subscription, as the edge seals it (docs/events.md). */
async function sealFor(id: string): Promise<string> {
  const publicKey = createPublicKey(readFileSync(join(stack.dataDir, 'keys', 'secrets-seal.pub.pem'), 'utf8'));
  return new CompactEncrypt(new TextEncoder().encode(CALLBACK_SECRET))
    .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', cty: 'toolplane-event-secret', sub: id })
    .encrypt(publicKey);
}

let workspace: string | undefined;
async function workspaceId(): Promise<string | undefined> {
  if (workspace) return workspace;
  const raw = Object.values(await redis.hgetall(eventSourcesKey(github.instanceId)))[0];
  workspace = raw ? (JSON.parse(raw) as { workspaceId: string }).workspaceId : undefined;
  return workspace;
}

async function occurrences(sub: EventSubscription): Promise<(EventOccurrence & { entry: string })[]> {
  const entries = (await redis.xrange(subscriptionStreamKey(sub.instanceId, sub.id), '-', '+')) as [string, string[]][];
  return entries.map(([id, fields]) => ({ entry: id, ...(JSON.parse(fields[1]!) as EventOccurrence) }));
}

const post = (instanceId: string, body: string, headers: Record<string, string>) =>
  fetch(`${stack.edgeUrl}/hooks/${instanceId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });

function githubDelivery(action: string, repository: string, opts: { secret?: string } = {}) {
  const id = randomUUID();
  // Each payload differs, as GitHub's do (its issue and timestamps): a signed body is known by its digest.
  const issue = { id: randomInt(2 ** 40), number: 7, title: 'Bug' };
  const body = JSON.stringify({ action, repository: { full_name: repository }, issue });
  const signature = `sha256=${createHmac('sha256', opts.secret ?? GITHUB_SECRET)
    .update(body)
    .digest('hex')}`;
  return {
    id,
    body,
    headers: { 'x-github-event': 'issues', 'x-github-delivery': id, 'x-hub-signature-256': signature },
  };
}

function stripeDelivery(data: Record<string, unknown>, opts: { t?: number; id?: string } = {}) {
  const id = opts.id ?? `evt_${randomBytes(8).toString('hex')}`;
  const body = JSON.stringify({ id, type: 'payment_intent.succeeded', data: { object: data } });
  const t = opts.t ?? Math.floor(Date.now() / 1000);
  const v1 = createHmac('sha256', STRIPE_SECRET).update(`${t}.${body}`).digest('hex');
  return { id, body, headers: { 'stripe-signature': `t=${t},v1=${v1}` } };
}

/** The worker's execution record of a refused delivery of `serverId`, by its error code. */
async function refusalRecord(serverId: string, tool: string, errorCode: string) {
  return waitFor(`an execution record ${errorCode}`, async () => {
    const page = await unwrap(api.GET('/execution_records', { params: { query: { server_id: serverId, tool } } }));
    return (page.data as { error_code: string | null; outcome: string }[]).find((r) => r.error_code === errorCode);
  });
}

async function refusalAudits(instanceId: string) {
  const page = await unwrap(api.GET('/audit_events', { params: { query: { resource_id: instanceId, limit: 100 } } }));
  type Audit = { action: string; outcome: string; details: { reason?: string; deliveryId?: string } | null };
  return (page.data as Audit[]).filter((e) => e.action === 'events.inbound_refused');
}

beforeAll(async () => {
  callback = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ body, headers: req.headers as Record<string, string> });
      const message = JSON.parse(body) as { type?: string; challenge?: string };
      // The endpoint confirms its intent by echoing the verification's challenge.
      if (message.type === 'verification') return void res.writeHead(200).end(message.challenge);
      // A receiver that no longer wants deliveries (the dashboard's failures): 410 ends each at once.
      if (req.url?.startsWith('/gone')) return void res.writeHead(410).end('gone: do not show this body');
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
  callbackUrl = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/hook`;
  ({ stack, api } = await startTestStack('events-inbound', { logLevel: 'debug' }));
  redis = stackRedis(stack);
  await redis.connect();
  Object.assign(github, await source('gh-events', eventTypes.github, GITHUB_SECRET));
  Object.assign(stripe, await source('stripe-events', eventTypes.stripe, STRIPE_SECRET));
  Object.assign(slack, await source('slack-events', eventTypes.slack, `slack-${randomBytes(8).toString('hex')}`));
}, 300_000);

afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
  callback?.closeAllConnections();
  await new Promise<void>((r) => (callback ? callback.close(() => r()) : r()));
});

describe('inbound deliveries', () => {
  it('gives a GitHub delivery to the subscriptions it matches, with the delivery id as eventId', async () => {
    const mine = await subscribe(github, 'issue_opened', { arguments: { repository: 'acme/app' } });
    const other = await subscribe(github, 'issue_opened', { arguments: { repository: 'acme/other' } });
    const delivery = githubDelivery('opened', 'acme/app');
    const res = await post(github.instanceId, delivery.body, delivery.headers);
    expect(res.status).toBe(202);
    const [got] = await waitFor('the occurrence in the stream', async () => {
      const all = await occurrences(mine);
      return all.length > 0 ? all : undefined;
    });
    expect(got).toMatchObject({ eventId: delivery.id, name: 'issue_opened' });
    expect((got!.data as { repository: { full_name: string } }).repository.full_name).toBe('acme/app');
    // The accepted delivery's record: given to one subscription, and why not to the other (no payload in it).
    const record = await waitFor('the accepted delivery recorded', async () => {
      const page = await unwrap(
        api.GET('/execution_records', {
          params: { query: { server_id: github.serverId, tool: 'inbound/github', outcome: 'success' } },
        }),
      );
      return (page.data as { message: string | null }[]).find((r) => r.message?.includes(delivery.id));
    });
    expect(record.message).toContain(`${other.id}: filters`);
    expect(record.message).toMatch(/given to 1 of \d+ subscriptions/);
    expect(record.message).not.toContain('acme/app');
    // Another action of the same event is no issue_opened; the other repository's subscription got nothing.
    const closed = githubDelivery('closed', 'acme/app');
    expect((await post(github.instanceId, closed.body, closed.headers)).status).toBe(202);
    const later = githubDelivery('opened', 'acme/app');
    await post(github.instanceId, later.body, later.headers);
    await waitFor('the next occurrence', async () => (await occurrences(mine)).length === 2);
    expect((await occurrences(mine)).map((o) => o.eventId)).toEqual([delivery.id, later.id]);
    expect(await occurrences(other)).toEqual([]);
  }, 120_000);

  it('answers 404 for an instance without event types', async () => {
    expect((await post(randomUUID(), '{}', {})).status).toBe(404);
  });

  it("answers a Slack instance's url_verification with its challenge, and queues nothing", async () => {
    const challenge = randomBytes(12).toString('hex');
    const res = await post(slack.instanceId, JSON.stringify({ type: 'url_verification', challenge }), {});
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(challenge);
    // The same body to a GitHub instance is a delivery like any other: unsigned, it is refused before it is queued.
    expect((await post(github.instanceId, JSON.stringify({ type: 'url_verification', challenge }), {})).status).toBe(
      401,
    );
  });

  it("brings untrusted into the subscriber's session", async () => {
    const scope = `k:${randomBytes(4).toString('hex')}`;
    const sub = await subscribe(github, 'issue_opened', { session: { scopes: [scope], ttlSeconds: 600 } });
    const delivery = githubDelivery('opened', 'acme/session');
    await post(github.instanceId, delivery.body, delivery.headers);
    await waitFor('the occurrence', async () => (await occurrences(sub)).length > 0);
    const origin = await redis.hget(sessionKey(stack.redisPrefix, (await workspaceId())!, scope), 'l:untrusted');
    expect(JSON.parse(origin!)).toMatchObject({ label: 'untrusted', tool: 'issue_opened', invocationId: delivery.id });
  }, 120_000);

  it('refuses a bad signature, a replay and a stale timestamp: a record and an audit event each, no occurrence', async () => {
    const sub = await subscribe(stripe, 'payment_succeeded');
    const forged = githubDelivery('opened', 'acme/app', { secret: 'not-the-secret' });
    const mine = await subscribe(github, 'issue_opened');
    expect((await post(github.instanceId, forged.body, forged.headers)).status).toBe(202);
    await refusalRecord(github.serverId, 'inbound/github', 'events.inbound_bad_signature');

    const first = stripeDelivery({ id: 'pi_1', amount: 1200 });
    await post(stripe.instanceId, first.body, first.headers);
    await waitFor('the Stripe occurrence', async () => (await occurrences(sub)).length === 1);
    // The same delivery sent again (a captured request replayed): refused.
    await post(stripe.instanceId, first.body, first.headers);
    await refusalRecord(stripe.serverId, 'inbound/stripe', 'events.inbound_replay');
    // Signed correctly an hour ago: stale.
    const stale = stripeDelivery({ id: 'pi_2', amount: 1 }, { t: Math.floor(Date.now() / 1000) - 3600 });
    await post(stripe.instanceId, stale.body, stale.headers);
    await refusalRecord(stripe.serverId, 'inbound/stripe', 'events.inbound_stale');

    expect((await occurrences(sub)).map((o) => o.eventId)).toEqual([first.id]);
    expect((await occurrences(mine)).map((o) => o.eventId)).not.toContain(forged.id);
    // Each refusal has its audit event.
    const audits = await waitFor('the audit events', async () => {
      const all = [...(await refusalAudits(github.instanceId)), ...(await refusalAudits(stripe.instanceId))];
      const reasons = new Set(all.map((a) => a.details?.reason));
      return ['bad_signature', 'replay', 'stale'].every((r) => reasons.has(r)) ? all : undefined;
    });
    expect([...new Set(audits.map((a) => a.details?.reason))].sort()).toEqual(['bad_signature', 'replay', 'stale']);
    expect(audits.every((a) => a.outcome === 'refused')).toBe(true);
  }, 120_000);

  it('takes a signed GitHub body once, whatever delivery id or event type it is sent again under', async () => {
    const sub = await subscribe(github, 'issue_opened', { arguments: { repository: 'acme/replayed' } });
    const first = githubDelivery('opened', 'acme/replayed');
    expect((await post(github.instanceId, first.body, first.headers)).status).toBe(202);
    await waitFor('the first given', async () => (await occurrences(sub)).length === 1);
    // The captured body and signature, under new unsigned headers: another delivery id, then another event type too.
    const again = { ...first.headers, 'x-github-delivery': randomUUID() };
    const relabelled = { ...first.headers, 'x-github-delivery': randomUUID(), 'x-github-event': 'pull_request' };
    for (const headers of [again, relabelled])
      expect((await post(github.instanceId, first.body, headers)).status).toBe(202);
    const audits = await waitFor('both refused as replays', async () => {
      const replays = (await refusalAudits(github.instanceId)).filter((a) => a.details?.reason === 'replay');
      const ids = new Set(replays.map((a) => a.details?.deliveryId));
      return ids.has(again['x-github-delivery']) && ids.has(relabelled['x-github-delivery']) ? replays : undefined;
    });
    expect(audits.every((a) => a.outcome === 'refused')).toBe(true);
    expect((await occurrences(sub)).map((o) => o.eventId)).toEqual([first.id]);
  }, 120_000);

  it("POSTs to a webhook subscription's callback, signed as Standard Webhooks with its secret", async () => {
    const publicKey = createPublicKey(readFileSync(join(stack.dataDir, 'keys', 'secrets-seal.pub.pem'), 'utf8'));
    const id = `sub-${randomBytes(6).toString('hex')}`;
    const secretSealed = await new CompactEncrypt(new TextEncoder().encode(CALLBACK_SECRET))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', cty: 'toolplane-event-secret', sub: id })
      .encrypt(publicKey);
    await subscribe(stripe, 'payment_succeeded', {
      id,
      delivery: 'webhook',
      callback: { url: callbackUrl, secretSealed },
    });
    const delivery = stripeDelivery({ id: 'pi_hook', amount: 4200 });
    await post(stripe.instanceId, delivery.body, delivery.headers);
    const got = await waitFor('the callback POST', () => received.find((r) => r.body.includes(delivery.id)));
    const verified = new Webhook(CALLBACK_SECRET).verify(got.body, got.headers) as EventOccurrence & { cursor: string };
    expect(verified).toMatchObject({ eventId: delivery.id, name: 'payment_succeeded' });
    expect(got.headers['webhook-id']).toBe(delivery.id);
    expect(got.headers['x-mcp-subscription-id']).toBe(id);
    // The verification came first, signed too.
    const verification = received.findIndex((r) => r.body.includes('"verification"'));
    expect(verification).toBeGreaterThanOrEqual(0);
    expect(verification).toBeLessThan(received.indexOf(got));
    expect(
      new Webhook(CALLBACK_SECRET).verify(received[verification]!.body, received[verification]!.headers),
    ).toMatchObject({
      type: 'verification',
    });
    expect(() => new Webhook(`whsec_${randomBytes(24).toString('base64')}`).verify(got.body, got.headers)).toThrow();
  }, 120_000);

  it('sends nothing to the callback of a webhook subscription past its expiresAt', async () => {
    const sub = await subscribe(stripe, 'payment_succeeded', {
      delivery: 'webhook',
      callback: { url: `${callbackUrl}?expired`, secretSealed: 'never-opened' },
      expiresAt: Date.now() - 1000,
    });
    // An entry left in its stream, and the subscription marked as having one (as the fan-out leaves them).
    await redis.xadd(
      subscriptionStreamKey(sub.instanceId, sub.id),
      '*',
      'occurrence',
      JSON.stringify({ eventId: 'e-old' }),
    );
    const pending = `${stack.redisPrefix}:events:webhooks-pending`;
    const member = `${sub.instanceId}\n${sub.id}`;
    await redis.sadd(pending, member);
    await waitFor(
      'the expired subscription dropped by the deliverer',
      async () => (await redis.sismember(pending, member)) === 0,
    );
    expect(received.filter((r) => r.body.includes('e-old'))).toEqual([]);
  }, 120_000);

  it("redacts a card number in a payload with the server's guardrail", async () => {
    const sub = await subscribe(stripe, 'payment_succeeded');
    await unwrap(
      api.POST('/guardrails', {
        body: {
          serverId: stripe.serverId,
          name: 'cards',
          detectors: [{ kind: 'pii', types: ['card'] }],
          action: 'redact',
        } as never,
      }),
    );
    // The guardrail reaches the worker with the server's next catalog.
    await waitFor('the guardrail published', async () => {
      const raw = await redis.get(`${stack.redisPrefix}:catalog:${stripe.serverId}`);
      return raw !== null && raw.includes('"guardrails"');
    });
    const card = '4242424242424242';
    const delivery = stripeDelivery({ id: 'pi_card', payment_method: { card: { number: card } } });
    await post(stripe.instanceId, delivery.body, delivery.headers);
    const [got] = await waitFor('the redacted occurrence', async () => {
      const all = await occurrences(sub);
      return all.length > 0 ? all : undefined;
    });
    expect(JSON.stringify(got!.data)).not.toContain(card);
    expect(JSON.stringify(got!.data)).toContain('[redacted:pii');

    // The same guardrail blocking: the occurrence is withheld from the subscription, the next one (no card) is given.
    const [guardrail] = (await unwrap(api.GET('/guardrails'))).data;
    await unwrap(
      api.PATCH('/guardrails/{id}', { params: { path: { id: guardrail!.id } }, body: { action: 'block' } as never }),
    );
    await waitFor('the blocking guardrail published', async () =>
      ((await redis.get(`${stack.redisPrefix}:catalog:${stripe.serverId}`)) ?? '').includes('"action":"block"'),
    );
    const blocked = stripeDelivery({ id: 'pi_card2', payment_method: { card: { number: card } } });
    await post(stripe.instanceId, blocked.body, blocked.headers);
    const clean = stripeDelivery({ id: 'pi_clean', amount: 5 });
    const worker = stack.processes.find((p) => p.name.startsWith('worker'))!;
    await waitFor('the blocked one fanned out', () =>
      logLines(worker, 'inbound delivery fanned out').some((l) => l.eventId === blocked.id),
    );
    await post(stripe.instanceId, clean.body, clean.headers);
    await waitFor('the clean one given', async () => (await occurrences(sub)).length === 2);
    expect((await occurrences(sub)).map((o) => o.eventId)).toEqual([delivery.id, clean.id]);
  }, 120_000);

  it("counts each occurrence given against the subscriber's quota", async () => {
    await unwrap(api.POST('/api_keys', { body: { name: 'quota-subscriber', scopes: ['runtime'] } }));
    const keyId = (await unwrap(api.GET('/api_keys'))).data.find((k) => k.name === 'quota-subscriber')!.id;
    const created = await api.POST('/quotas', {
      body: {
        name: 'one-push',
        // The event type by name, as a tool is named (the control plane checks the server exposes it).
        match: { servers: [github.serverId], apiKeys: [keyId], tools: ['issue_opened'] },
        counts: 'calls',
        limit: 1,
        window: 'month',
      } as never,
    });
    expect(created.error).toBeUndefined();
    await waitFor('the quota published', async () =>
      ((await redis.get(`${stack.redisPrefix}:access:${await workspaceId()}`)) ?? '').includes('one-push'),
    );
    const sub = await subscribe(github, 'issue_opened', { principal: { keyId } });
    const first = githubDelivery('opened', 'acme/quota');
    await post(github.instanceId, first.body, first.headers);
    await waitFor('the first given', async () => (await occurrences(sub)).length === 1);
    const second = githubDelivery('opened', 'acme/quota');
    await post(github.instanceId, second.body, second.headers);
    const worker = stack.processes.find((p) => p.name.startsWith('worker'))!;
    await waitFor('the second fanned out', () =>
      logLines(worker, 'inbound delivery fanned out').some((l) => l.eventId === second.id),
    );
    expect((await occurrences(sub)).map((o) => o.eventId)).toEqual([first.id]);
  }, 120_000);

  it('shows subscriptions, their deliveries and failures, and inbound refusals; never a secret', async () => {
    const taking = `sub-${randomBytes(6).toString('hex')}`;
    const gone = `sub-${randomBytes(6).toString('hex')}`;
    const origin = new URL(callbackUrl).origin;
    const sealed = { [taking]: await sealFor(taking), [gone]: await sealFor(gone) };
    await subscribe(stripe, 'payment_succeeded', {
      id: taking,
      delivery: 'webhook',
      callback: { url: `${callbackUrl}?token=receiver-own-token`, secretSealed: sealed[taking]! },
    });
    await subscribe(stripe, 'payment_succeeded', {
      id: gone,
      delivery: 'webhook',
      callback: { url: `${origin}/gone/receiver-path`, secretSealed: sealed[gone]! },
    });
    const delivery = stripeDelivery({ id: 'pi_seen', amount: 77 });
    await post(stripe.instanceId, delivery.body, delivery.headers);
    const forged = githubDelivery('opened', 'acme/app', { secret: 'not-the-secret' });
    await post(github.instanceId, forged.body, forged.headers);

    const answers: unknown[] = [];
    const list = await waitFor('both deliveries recorded', async () => {
      const page = await unwrap(api.GET('/event_subscriptions', { params: { query: { server_id: stripe.serverId } } }));
      const of = (id: string) => page.data.find((s) => s.id === id);
      return of(taking)?.delivered === 1 && of(gone)?.failed === 1 ? page : undefined;
    });
    answers.push(list);
    const mine = list.data.find((s) => s.id === taking)!;
    expect(mine).toMatchObject({
      name: 'payment_succeeded',
      serverId: stripe.serverId,
      serverName: 'stripe-events-events',
      instanceId: stripe.instanceId,
      principal: { keyId: 'test-key', keyName: null, subject: null, username: null },
      delivery: 'webhook',
      callbackOrigin: origin,
      expired: false,
      delivered: 1,
      failed: 0,
      lastError: null,
    });
    expect(mine.lastDeliveryAt).not.toBeNull();
    expect(list.data.find((s) => s.id === gone)).toMatchObject({ delivered: 0, failed: 1, lastError: 'http_4xx' });
    // Every subscription of the server, none of another's.
    expect(list.data.every((s) => s.serverId === stripe.serverId)).toBe(true);
    const all = await unwrap(api.GET('/event_subscriptions'));
    answers.push(all);
    expect(all.data.some((s) => s.serverId === github.serverId)).toBe(true);

    const taken = await unwrap(
      api.GET('/event_subscriptions/{id}/deliveries', { params: { path: { id: taking }, query: {} } }),
    );
    expect(taken.subscriptionId).toBe(taking);
    expect(taken.data).toEqual([
      expect.objectContaining({ eventId: delivery.id, outcome: 'delivered', attempts: 1, errorCategory: null }),
    ]);
    const failed = await unwrap(
      api.GET('/event_subscriptions/{id}/deliveries', { params: { path: { id: gone }, query: { limit: 5 } } }),
    );
    expect(failed.data).toEqual([
      expect.objectContaining({ eventId: delivery.id, outcome: 'failed', attempts: 1, errorCategory: 'http_4xx' }),
    ]);
    answers.push(taken, failed);
    const unknown = await api.GET('/event_subscriptions/{id}/deliveries', {
      params: { path: { id: 'sub_nobody' }, query: {} },
    });
    expect(unknown.response.status).toBe(404);
    // The bad signature is in the records the Events page lists.
    answers.push(await refusalRecord(github.serverId, 'inbound/github', 'events.inbound_bad_signature'));
    // The delivery's record names the callback's origin only.
    const record = await unwrap(
      api.GET('/execution_records/{id}', { params: { path: { id: failed.data[0]!.recordId } } }),
    );
    answers.push(record);

    // The CLI lists the same.
    const cli = await sourceCli(stack)('events', 'subscriptions', '--server', stripe.serverId);
    expect(cli.stdout).toContain(taking);
    expect(cli.stdout).toContain('http_4xx');
    answers.push(cli.stdout);

    const text = JSON.stringify(answers);
    for (const secret of [CALLBACK_SECRET, STRIPE_SECRET, GITHUB_SECRET, sealed[taking]!, sealed[gone]!])
      expect(text).not.toContain(secret);
    for (const hidden of ['receiver-own-token', 'receiver-path', 'do not show this body'])
      expect(text).not.toContain(hidden);
  }, 120_000);

  // Last: once a policy names a principal, the others' subscriptions are decided by policies too.
  it('gives an occurrence only when the access condition on event.data holds', async () => {
    const key = await unwrap(api.POST('/api_keys', { body: { name: 'events-subscriber', scopes: ['runtime'] } }));
    const keyId = (await unwrap(api.GET('/api_keys'))).data.find((k) => k.name === 'events-subscriber')!.id;
    expect(key).toBeDefined();
    await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'small-payments',
          principals: [{ type: 'api_key', value: keyId }],
          servers: [stripe.serverId],
          tools: ['payment_succeeded'],
          // No event when subscribing (the edge decides the arguments alone); each occurrence's data after.
          condition: '!has(args.event) || args.event.data.data.object.amount < 1000',
        },
      }),
    );
    await waitFor('the policy published', async () =>
      ((await redis.get(`${stack.redisPrefix}:access:${await workspaceId()}`)) ?? '').includes('small-payments'),
    );
    const sub = await subscribe(stripe, 'payment_succeeded', { principal: { keyId } });
    const big = stripeDelivery({ id: 'pi_big', amount: 5000 });
    await post(stripe.instanceId, big.body, big.headers);
    const worker = stack.processes.find((p) => p.name.startsWith('worker'))!;
    await waitFor('the large payment fanned out', () =>
      logLines(worker, 'inbound delivery fanned out').some((l) => l.eventId === big.id),
    );
    const small = stripeDelivery({ id: 'pi_small', amount: 10 });
    await post(stripe.instanceId, small.body, small.headers);
    await waitFor('the small payment given', async () => (await occurrences(sub)).length > 0);
    expect((await occurrences(sub)).map((o) => o.eventId)).toEqual([small.id]);
  }, 120_000);
});
