import { createHash, createHmac, createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ServiceProcess, Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import {
  eventSourcesKey,
  subscriptionsKey,
  subscriptionStreamKey,
  type EventOccurrence,
  type EventSubscription,
} from '@toolplane/contracts';
import type { RedisClient } from '@toolplane/redis';
import { CompactEncrypt } from 'jose';
import { Webhook } from 'standardwebhooks';
import { stackRedis, startTestStack } from '../../helpers/stack.ts';
import { stripePayConnector } from '../events/fixture.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * MCP Events, webhook deliveries under faults (docs/events.md): the worker is killed with SIGKILL while a delivery is
 * at the callback (the callback holds it), the callback then answers 503 for a while: every occurrence still reaches
 * the callback at least once, with its eventId (the provider's delivery id) the same on every attempt, in the order
 * the occurrences were given, each signed with the subscription's secret.
 */

const STRIPE_SECRET = `whsec_${randomBytes(16).toString('hex')}`;
const CALLBACK_SECRET = `whsec_${randomBytes(24).toString('base64')}`;

let stack: Stack;
let api: ManagementClient;
let redis: RedisClient;
let callback: Server;
let mode: 'up' | 'hang' | 'down' = 'up';
/** Requests held while `hang`. */
const held: ServerResponse[] = [];
/** Every POST: body, headers and what the callback answered. */
const seen: { body: string; headers: Record<string, string>; status: number | 'held' }[] = [];
const source = { instanceId: '', serverId: '', workspaceId: '' };

function stripeDelivery(n: number) {
  const id = `evt_${n}_${randomBytes(6).toString('hex')}`;
  const body = JSON.stringify({ id, type: 'payment_intent.succeeded', data: { object: { id: `pi_${n}` } } });
  const t = Math.floor(Date.now() / 1000);
  const v1 = createHmac('sha256', STRIPE_SECRET).update(`${t}.${body}`).digest('hex');
  return { id, body, headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${v1}` } };
}

const streamLength = (sub: EventSubscription) => redis.xlen(subscriptionStreamKey(sub.instanceId, sub.id));

/** Sends a delivery and waits until the subscription's stream has it (so the order of the stream is ours). */
async function deliver(n: number, sub: EventSubscription): Promise<string> {
  const before = await streamLength(sub);
  const d = stripeDelivery(n);
  const res = await fetch(`${stack.edgeUrl}/hooks/${source.instanceId}`, {
    method: 'POST',
    headers: d.headers,
    body: d.body,
  });
  expect(res.status).toBe(202);
  await waitFor(`occurrence ${n} in the stream`, async () => (await streamLength(sub)) > before);
  return d.id;
}

/** The eventIds the callback accepted (2xx), in the order first accepted. */
function accepted(): string[] {
  const ids: string[] = [];
  for (const s of seen) {
    if (s.status !== 204) continue;
    const id = (JSON.parse(s.body) as { eventId?: string }).eventId;
    if (id && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

beforeAll(async () => {
  callback = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const entry = { body, headers: req.headers as Record<string, string>, status: 0 as number | 'held' };
      seen.push(entry);
      const message = JSON.parse(body) as { type?: string; challenge?: string };
      if (message.type === 'verification') return void res.writeHead((entry.status = 200)).end(message.challenge);
      if (mode === 'hang') {
        entry.status = 'held';
        return void held.push(res);
      }
      res.writeHead((entry.status = mode === 'up' ? 204 : 503)).end();
    });
  });
  await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
  // Retries every second at most: the callback's outage lasts a few attempts, not minutes.
  ({ stack, api } = await startTestStack('events-webhook-crash', {
    logLevel: 'debug',
    serviceEnv: { worker: { EVENTS_WEBHOOK_MAX_BACKOFF_MS: '1000' } },
  }));
  redis = stackRedis(stack);
  await redis.connect();
  const connector = await unwrap(api.POST('/connectors', { body: stripePayConnector as never }));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'pay', webhook_secret: STRIPE_SECRET },
    }),
  );
  const server = await unwrap(
    api.POST('/mcp_manager', {
      body: {
        name: 'pay-events',
        mode: 'NORMAL',
        connectorInstanceId: instance.id,
        config: { events: ['payment_succeeded'] },
      },
    }),
  );
  const raw = await waitFor(
    'the event source published',
    async () => Object.values(await redis.hgetall(eventSourcesKey(instance.id)))[0],
  );
  Object.assign(source, {
    instanceId: instance.id,
    serverId: server.id,
    workspaceId: (JSON.parse(raw) as { workspaceId: string }).workspaceId,
  });
}, 300_000);

afterAll(async () => {
  for (const res of held) res.destroy();
  redis?.disconnect();
  await stack?.stop();
  callback?.closeAllConnections();
  await new Promise<void>((r) => (callback ? callback.close(() => r()) : r()));
});

describe('webhook deliveries when the worker dies and the callback is down', () => {
  it('delivers every occurrence at least once, in order, with the same eventId', async () => {
    const id = `sub-${randomBytes(6).toString('hex')}`;
    const publicKey = createPublicKey(readFileSync(join(stack.dataDir, 'keys', 'secrets-seal.pub.pem'), 'utf8'));
    const secretSealed = await new CompactEncrypt(new TextEncoder().encode(CALLBACK_SECRET))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', cty: 'toolplane-event-secret', sub: id })
      .encrypt(publicKey);
    const { port } = callback.address() as AddressInfo;
    const sub: EventSubscription = {
      v: 1,
      id,
      workspaceId: source.workspaceId,
      serverId: source.serverId,
      instanceId: source.instanceId,
      name: 'payment_succeeded',
      arguments: {},
      principal: { keyId: 'k' },
      delivery: 'webhook',
      callback: { url: `http://127.0.0.1:${port}/hook`, secretSealed },
      // The credential it was made with, judged at each delivery (docs/events.md): a key that stands.
      credential: { keyHash: createHash('sha256').update(stack.bootstrapKey).digest('hex') },
      createdAt: Date.now(),
      expiresAt: Date.now() + 3_600_000,
    };
    await redis.hset(subscriptionsKey(source.instanceId), id, JSON.stringify(sub));

    const ids = [await deliver(1, sub), await deliver(2, sub)];
    await waitFor('the first two delivered', () => accepted().length === 2);
    mode = 'hang';
    for (const n of [3, 4, 5]) ids.push(await deliver(n, sub));
    await waitFor('the third held at the callback', () => held.length > 0);

    const worker = stack.processes.find((p) => p.service === 'worker') as ServiceProcess;
    const exited = new Promise<void>((resolve) => worker.child.once('exit', () => resolve()));
    worker.child.kill('SIGKILL');
    await exited;
    stack.processes.splice(stack.processes.indexOf(worker), 1);
    mode = 'down';
    for (const res of held.splice(0)) res.destroy();
    const refusedBefore = seen.filter((s) => s.status === 503).length;
    await stack.addWorker();
    // The new worker takes the subscription over once the dead one's lock lapses, and meets a callback that is down.
    await waitFor('two refused attempts', () => seen.filter((s) => s.status === 503).length >= refusedBefore + 2);
    mode = 'up';
    await waitFor('all five delivered', () => accepted().length === 5);

    expect(accepted()).toEqual(ids);
    const deliveries = seen.filter((s) => !s.body.includes('"verification"'));
    const webhook = new Webhook(CALLBACK_SECRET);
    for (const d of deliveries) {
      const occurrence = webhook.verify(d.body, d.headers) as EventOccurrence;
      // Every attempt of one occurrence carries its eventId (the provider's delivery id) as webhook-id.
      expect(d.headers['webhook-id']).toBe(occurrence.eventId);
      expect(ids).toContain(occurrence.eventId);
    }
    // The held and refused attempts were of the third occurrence: the ones after it waited their turn.
    const firstAttempt = (eventId: string) => deliveries.findIndex((d) => d.headers['webhook-id'] === eventId);
    expect(firstAttempt(ids[3]!)).toBeGreaterThan(deliveries.findIndex((d) => d.status === 'held'));
    expect(deliveries.filter((d) => d.status === 503).every((d) => d.headers['webhook-id'] === ids[2])).toBe(true);
  }, 300_000);
});
