import { createHmac, randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/client';
import type { ServiceProcess, Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import {
  eventSourcesKey,
  inboundHeldKey,
  subscriptionsKey,
  subscriptionStreamKey,
  type EventOccurrence,
} from '@toolplane/contracts';
import { startRedisServer, type RedisHandle } from '@toolplane/embedded';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { logLines } from '../../helpers/records.ts';
import { startTestStack, tempDir } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { sdkClient, stripePayConnector } from '../events/fixture.ts';

/**
 * MCP Events under faults (docs/events.md "Faults"), on one stack: two edges, one worker, a Redis of this file's own
 * with AOF. Edge A is killed (SIGKILL) with a provider's delivery half sent to it, a push stream open on it and a poll
 * client using it: the provider retries at edge B (also a delivery A had queued, whose answer it never got), the
 * clients go on at edge B with their cursors. Then Redis is stopped and started again from its AOF: what was written
 * before is delivered after (webhook and poll), a delivery while it is down is refused with 503 and taken on the
 * provider's retry, and so is one while Redis has lost the published state (not yet republished). Every occurrence
 * reaches every subscriber, in order, each eventId once in a subscription's stream.
 */

const STRIPE_SECRET = `whsec_${randomBytes(16).toString('hex')}`;
const CALLBACK_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const EVENT = stripePayConnector.events.types[0]!.name;

const Poll = z.looseObject({
  events: z.array(z.looseObject({ eventId: z.string() })),
  cursor: z.string(),
  truncated: z.boolean(),
  hasMore: z.boolean(),
});

let stack: Stack;
let api: ManagementClient;
let redisServer: RedisHandle;
const aofDir = tempDir('events-faults-aof');
let redis: Redis;
let instanceId = '';
let serverUrl = '';
let callback: Server;
let callbackMode: 'up' | 'down' = 'down';
/** Every POST the callback got: body, headers and what it answered. */
const posts: { body: string; headers: Record<string, string>; status: number }[] = [];
const clients: Client[] = [];

/** A Stripe delivery (its event id is the delivery's id: a retry sends the same one, signed anew). */
function stripeDelivery(id: string) {
  const body = JSON.stringify({ id, type: 'payment_intent.succeeded', data: { object: { id: `pi_${id}` } } });
  const t = Math.floor(Date.now() / 1000);
  const v1 = createHmac('sha256', STRIPE_SECRET).update(`${t}.${body}`).digest('hex');
  return { body, headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${v1}` } };
}

/** POSTs a delivery to an edge's inbound URL; the status (0: no answer). */
async function post(edgeUrl: string, id: string): Promise<number> {
  const d = stripeDelivery(id);
  try {
    const res = await fetch(`${edgeUrl}/hooks/${instanceId}`, { method: 'POST', headers: d.headers, body: d.body });
    return res.status;
  } catch {
    return 0;
  }
}

/** Whether every queued delivery was handled (each holds a place in its instance's bound until a worker ends it). */
const allHandled = async () => (await redis.zcard(inboundHeldKey(instanceId))) === 0;

/** Kills a service process (SIGKILL) and forgets it. */
async function kill(p: ServiceProcess): Promise<void> {
  const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGKILL');
  await exited;
  stack.processes.splice(stack.processes.indexOf(p), 1);
}

/** The eventIds of a subscription's stream, in its order (what the subscription was given). */
async function given(subscriptionId: string): Promise<string[]> {
  const entries = await redis.xrange(subscriptionStreamKey(instanceId, subscriptionId), '-', '+');
  return entries.map(([, fields]) => (JSON.parse(fields[1]!) as EventOccurrence).eventId);
}

/** The instance's only subscription of a delivery mode. */
async function subscriptionOf(delivery: string): Promise<string> {
  const all = await redis.hgetall(subscriptionsKey(instanceId));
  const found = Object.entries(all).find(([, raw]) => (JSON.parse(raw) as { delivery: string }).delivery === delivery);
  if (!found) throw new Error(`no ${delivery} subscription`);
  return found[0];
}

/** Sends a delivery to an edge (until it answers 202, as a provider retries) and waits until `sub` was given it. */
async function deliver(edgeUrl: string, id: string, sub: string): Promise<void> {
  await waitFor(`delivery ${id} accepted`, async () => (await post(edgeUrl, id)) === 202);
  await waitFor(`${id} given`, async () => (await given(sub)).includes(id));
}

const onEdge = (edgeUrl: string) => serverUrl.replace(new URL(serverUrl).origin, edgeUrl);

async function client(edgeUrl: string): Promise<Client> {
  const c = await sdkClient(onEdge(edgeUrl), stack.bootstrapKey);
  clients.push(c);
  return c;
}

const poll = (c: Client, cursor: string | null, maxEvents?: number) =>
  c.request({ method: 'events/poll', params: { name: EVENT, cursor, ...(maxEvents ? { maxEvents } : {}) } }, Poll);

/** Opens `events/stream` on `c`; what it receives (eventId and cursor of each event) lands in `into`. */
function stream(c: Client, cursor: string | null, into: { eventId: string; cursor: string }[]) {
  let active = false;
  c.setNotificationHandler('notifications/events/active', { params: z.looseObject({}) }, () => void (active = true));
  c.setNotificationHandler(
    'notifications/events/event',
    { params: z.looseObject({ eventId: z.string(), cursor: z.string() }) },
    (p) => void into.push({ eventId: p.eventId, cursor: p.cursor }),
  );
  const done = c
    .request({ method: 'events/stream', params: { name: EVENT, cursor } }, z.looseObject({}), { timeout: 600_000 })
    .catch((err: unknown) => err);
  return { done, active: () => active };
}

/** What the callback accepted (2xx), by eventId, in the order first accepted. */
function accepted(): string[] {
  const ids: string[] = [];
  for (const p of posts) {
    const id = (JSON.parse(p.body) as { eventId?: string }).eventId;
    if (p.status === 204 && id && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

beforeAll(async () => {
  redisServer = await startRedisServer({ dir: aofDir, appendonly: true });
  callback = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const message = JSON.parse(body) as { type?: string; challenge?: string };
      const status = message.type === 'verification' ? 200 : callbackMode === 'up' ? 204 : 503;
      posts.push({ body, headers: req.headers as Record<string, string>, status });
      res.writeHead(status).end(message.type === 'verification' ? message.challenge : undefined);
    });
  });
  await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
  ({ stack, api } = await startTestStack('events-faults', {
    redisUrl: redisServer.url,
    edges: 2,
    logLevel: 'info',
    serviceEnv: {
      edge: { EVENTS_ALLOW_LOOPBACK_CALLBACKS: 'true' },
      worker: { EVENTS_WEBHOOK_MAX_BACKOFF_MS: '1000' },
    },
  }));
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  const connector = await unwrap(api.POST('/connectors', { body: stripePayConnector as never }));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'pay', webhook_secret: STRIPE_SECRET },
    }),
  );
  const server = await unwrap(
    api.POST('/mcp_manager', {
      body: { name: 'pay-events', mode: 'NORMAL', connectorInstanceId: instance.id, config: { events: [EVENT] } },
    }),
  );
  instanceId = instance.id;
  serverUrl = server.url;
}, 300_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  redis?.disconnect();
  await stack?.stop();
  await redisServer?.stop();
  callback?.closeAllConnections();
  await new Promise<void>((r) => (callback ? callback.close(() => r()) : r()));
});

describe('MCP Events under faults', () => {
  const ids = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => `evt_${prefix}${i + 1}_${randomBytes(4).toString('hex')}`);
  const [edgeA, edgeB] = [() => stack.edgeUrls[0]!, () => stack.edgeUrls[1]!];

  it('edge A killed mid-delivery: the provider retries at edge B, push and poll clients go on there', async () => {
    const e = ids('edge', 4);
    const pollA = await client(edgeA());
    const first = await poll(pollA, null);
    const pushed: { eventId: string; cursor: string }[] = [];
    const onA = stream(await client(edgeA()), null, pushed);
    await waitFor('the stream on edge A is active', onA.active);
    const pollSub = await subscriptionOf('poll');
    await deliver(edgeA(), e[0]!, pollSub);
    await waitFor('pushed on edge A', () => pushed.length === 1);
    const page = await poll(pollA, first.cursor);
    expect(page.events.map((x) => x.eventId)).toEqual([e[0]]);

    // No worker runs while edge A queues the second delivery (its 202 never reaches the provider: A dies next).
    await kill(stack.processes.find((p) => p.service === 'worker')!);
    expect(await post(edgeA(), e[1]!)).toBe(202);
    // The third is half sent to edge A when it dies: nothing was handed on, the provider gets no answer.
    const d = stripeDelivery(e[2]!);
    const half = request(`${edgeA()}/hooks/${instanceId}`, {
      method: 'POST',
      headers: { ...d.headers, 'content-length': String(Buffer.byteLength(d.body)) },
    });
    const failed = new Promise<unknown>((resolve) => {
      half.on('error', resolve);
      half.on('response', resolve);
    });
    half.write(d.body.slice(0, 20));
    await new Promise<void>((r) => (half.socket ? r() : half.once('socket', (s) => s.once('connect', () => r()))));
    await kill(stack.processes.find((p) => p.url === edgeA())!);
    expect(await failed).toHaveProperty('code', 'ECONNRESET');

    // The provider retries at edge B: the second (now queued twice), then the third and a fourth.
    expect(await post(edgeB(), e[1]!)).toBe(202);
    expect(await redis.zcard(inboundHeldKey(instanceId))).toBe(2);
    const worker = await stack.addWorker();
    // The new worker takes both copies of the second at once: one is given, the other refused as already taken.
    await waitFor('every queued delivery handled', allHandled);
    expect(await given(pollSub)).toEqual(e.slice(0, 2));
    expect(logLines(worker, 'inbound delivery refused').filter((l) => l.reason === 'replay')).toHaveLength(1);
    for (const id of e.slice(2)) await deliver(edgeB(), id, pollSub);
    // Each subscription was given each occurrence once, in the order of the deliveries.
    expect(await given(pollSub)).toEqual(e);
    expect(await given(await subscriptionOf('push'))).toEqual(e);

    // Push: the client reconnects to edge B with the last cursor it got: the rest, in order.
    const onB = stream(await client(edgeB()), pushed.at(-1)!.cursor, pushed);
    await waitFor('the rest pushed on edge B', () => pushed.length >= 4);
    expect(pushed.map((x) => x.eventId)).toEqual(e);
    expect(onB.active()).toBe(true);

    // Poll: the cursor from edge A, on edge B.
    const rest = await poll(await client(edgeB()), page.cursor);
    expect(rest).toMatchObject({ truncated: false, hasMore: false });
    expect(rest.events.map((x) => x.eventId)).toEqual(e.slice(1));
  }, 600_000);

  it('Redis restarted: what was written before is delivered after; a delivery while it is down is refused with 503', async () => {
    const r = ids('redis', 3);
    const pollB = await client(edgeB());
    // A null cursor on a live subscription: from now on.
    const from = await poll(pollB, null);
    const { port } = callback.address() as AddressInfo;
    await pollB.request(
      {
        method: 'events/subscribe',
        params: {
          name: EVENT,
          delivery: { mode: 'webhook', url: `http://127.0.0.1:${port}/hook`, secret: CALLBACK_SECRET },
        },
      },
      z.looseObject({ id: z.string() }),
    );
    const pollSub = await subscriptionOf('poll');
    const webhookSub = await subscriptionOf('webhook');
    const earlier = await given(pollSub);
    // Two occurrences given before the restart; the callback refuses them (503) meanwhile.
    for (const id of r.slice(0, 2)) await deliver(edgeB(), id, webhookSub);
    await waitFor('a refused webhook attempt', () => posts.some((p) => p.status === 503));

    // Redis stops (SIGTERM: its AOF written out) and starts again from it on the same port.
    const exited = new Promise((resolve) => redisServer.process.once('exit', resolve));
    redisServer.process.kill('SIGTERM');
    await exited;
    expect(await post(edgeB(), r[2]!)).toBe(503);
    redisServer = await startRedisServer({ port: redisServer.port, dir: aofDir, appendonly: true });
    // The provider retries the refused delivery until it is taken.
    await deliver(edgeB(), r[2]!, webhookSub);
    callbackMode = 'up';
    await waitFor('all three at the callback', () => accepted().length === 3);

    expect(accepted()).toEqual(r);
    expect(await given(webhookSub)).toEqual(r);
    const webhook = new Webhook(CALLBACK_SECRET);
    for (const p of posts.filter((x) => !x.body.includes('"verification"'))) {
      const occurrence = webhook.verify(p.body, p.headers) as EventOccurrence;
      expect(r).toContain(occurrence.eventId);
      expect(p.headers['webhook-id']).toBe(occurrence.eventId);
    }
    expect(await given(pollSub)).toEqual([...earlier, ...r]);
    const after = await poll(pollB, from.cursor);
    expect(after).toMatchObject({ truncated: false, hasMore: false });
    expect(after.events.map((x) => x.eventId)).toEqual(r);
  }, 600_000);

  it('state lost from Redis and not yet republished: a delivery is refused with 503 (not 404), and taken after', async () => {
    const [id] = ids('state', 1);
    const pollSub = await subscriptionOf('poll');
    // The control plane is down while Redis has lost its marker and the instance's sources (what an empty restart
    // leaves): the edge cannot tell "no such inbound URL" from "not republished yet".
    await stack.stopProcess(stack.processes.find((p) => p.service === 'control-plane')!);
    await redis.del(`${stack.redisPrefix}:runtime-state`, eventSourcesKey(instanceId));
    expect(await post(edgeB(), id!)).toBe(503);
    await stack.startControlPlane();
    await deliver(edgeB(), id!, pollSub);
    expect((await given(pollSub)).filter((x) => x === id)).toHaveLength(1);
  }, 600_000);
});
