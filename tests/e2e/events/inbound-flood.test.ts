import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ServiceProcess, Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { eventSourcesKey, inboundHeldKey, INBOUND_QUEUE } from '@toolplane/contracts';
import { startRedisServer, type RedisHandle } from '@toolplane/embedded';
import { Redis } from 'ioredis';
import { logLines } from '../../helpers/records.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { stripePayConnector } from './fixture.ts';

/**
 * An inbound URL under a flood of unsigned deliveries (finding 4; ADR 0089), on a Redis of this file's own
 * so its memory can be read: while queued, a delivery holds its bytes against its client address's bound (429 past
 * it) and its instance's (503 past it); once the worker has refused it, nothing of it is left in Redis. 1,000
 * deliveries of 900 KB leave Redis's memory where it was (± 10 MB).
 */

const STRIPE_SECRET = `whsec_${randomBytes(16).toString('hex')}`;
const BODY_BYTES = 900 * 1024;
/** Queued bytes per delivery as the edge counts them (base64 and the job's overhead): about 1.2 MB. */
const HELD_BYTES = Math.ceil(BODY_BYTES / 3) * 4 + 4096;
/** Three such deliveries per address, 26 per instance. */
const PER_ADDRESS = 3 * HELD_BYTES + 1;
const PER_INSTANCE = 26 * HELD_BYTES + 1;

let stack: Stack;
let redisServer: RedisHandle;
let redis: Redis;
let instanceId = '';

/** A Stripe-shaped delivery of about 900 KB, signed with the wrong secret (the worker refuses it). */
function forged(): { body: string; headers: Record<string, string> } {
  const head = JSON.stringify({ id: `evt_${randomBytes(6).toString('hex')}`, type: 'payment_intent.succeeded' });
  const body = `${head.slice(0, -1)},"pad":"${'x'.repeat(BODY_BYTES - head.length - 10)}"}`;
  const t = Math.floor(Date.now() / 1000);
  return { body, headers: { 'stripe-signature': `t=${t},v1=${randomBytes(32).toString('hex')}` } };
}

/** POSTs a forged delivery as if from `address` (the edge trusts the forwarded address in this stack). */
async function post(address: string, headers: Record<string, string> = {}): Promise<Response> {
  const d = forged();
  return fetch(`${stack.edgeUrl}/hooks/${instanceId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address, ...d.headers, ...headers },
    body: d.body,
  });
}

const worker = (): ServiceProcess => stack.processes.find((p) => p.service === 'worker')!;
const held = () => redis.zcard(inboundHeldKey(instanceId));
const refusedByWorker = () =>
  logLines(worker(), 'inbound delivery refused').filter((l) => l.reason === 'bad_signature').length;

async function usedMemory(): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

/** The inbound queue's keys holding a job (its hash, or a finished or failed job's set). */
async function queueJobKeys(): Promise<string[]> {
  const keys = await redis.keys(`${stack.redisPrefix}:${INBOUND_QUEUE}:*`);
  return keys.filter((k) => /:(\d+|[0-9a-f]{64})(:lock)?$|:(completed|failed)$/.test(k));
}

beforeAll(async () => {
  redisServer = await startRedisServer();
  let api: ManagementClient;
  ({ stack, api } = await startTestStack('events-inbound-flood', {
    redisUrl: redisServer.url,
    logLevel: 'info',
    serviceEnv: {
      edge: {
        TRUST_PROXY: 'true',
        UNAUTH_RATE_LIMIT: '0',
        INBOUND_MAX_QUEUED_BYTES_PER_ADDRESS: String(PER_ADDRESS),
        INBOUND_MAX_QUEUED_BYTES_PER_INSTANCE: String(PER_INSTANCE),
      },
    },
  }));
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  const connector = await unwrap(api.POST('/connectors', { body: stripePayConnector as never }));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'pay', webhook_secret: STRIPE_SECRET },
    }),
  );
  await unwrap(
    api.POST('/mcp_manager', {
      body: {
        name: 'pay-events',
        mode: 'NORMAL',
        connectorInstanceId: instance.id,
        config: { events: ['payment_succeeded'] },
      },
    }),
  );
  instanceId = instance.id;
  await waitFor('the event source published', async () => (await redis.hlen(eventSourcesKey(instanceId))) > 0);
}, 300_000);

afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
  await redisServer?.stop();
});

describe('an inbound URL flooded', () => {
  it('bounds what one address and one instance may have queued: 429, then 503, each with Retry-After', async () => {
    // No worker takes anything while the bounds fill.
    worker().child.kill('SIGSTOP');
    try {
      const first = [];
      for (let i = 0; i < 4; i++) first.push((await post('198.51.100.1')).status);
      expect(first).toEqual([202, 202, 202, 429]);
      const tooMany = await post('198.51.100.1');
      expect(tooMany.status).toBe(429);
      expect(Number(tooMany.headers.get('retry-after'))).toBeGreaterThan(0);
      // Eight more addresses take 23 more places: the instance's 26 are full, the next address is refused 503.
      const statuses: number[] = [];
      for (let a = 2; a <= 9; a++) for (let i = 0; i < 3; i++) statuses.push((await post(`198.51.100.${a}`)).status);
      expect(statuses.filter((s) => s === 202)).toHaveLength(23);
      expect(statuses.at(-1)).toBe(503);
      const full = await post('198.51.100.10');
      expect(full.status).toBe(503);
      expect(Number(full.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      worker().child.kill('SIGCONT');
    }
    // Each place is given back when the worker has refused its delivery.
    await waitFor('every queued delivery handled', async () => (await held()) === 0);
    await waitFor('the 26 refused by the worker', () => refusedByWorker() === 26);
  }, 300_000);

  it('holds no place for a delivery whose id is queued already', async () => {
    worker().child.kill('SIGSTOP');
    try {
      // The same delivery id sent again while the first waits: one job, one place (else each copy would hold one).
      for (let i = 0; i < 3; i++) expect((await post('198.51.100.20', { 'webhook-id': 'msg_same' })).status).toBe(202);
      expect(await held()).toBe(1);
    } finally {
      worker().child.kill('SIGCONT');
    }
    await waitFor('the one job handled', async () => (await held()) === 0);
    await waitFor('refused by the worker', () => refusedByWorker() === 27);
  }, 300_000);

  it("keeps nothing of 1,000 refused deliveries of 900 KB: Redis's memory stays flat", async () => {
    const before = await usedMemory();
    const refusedBefore = refusedByWorker();
    let accepted = 0;
    let full = 0;
    let next = 0;
    // Eight senders, each from its own address, one delivery at a time; one told to wait waits until the queue drains.
    const sender = async (address: string) => {
      while (next < 1000) {
        next++;
        const res = await post(address);
        if (res.status === 202) accepted++;
        else {
          expect([429, 503]).toContain(res.status);
          full++;
          await waitFor('the queue drained', async () => (await held()) === 0);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, i) => sender(`203.0.113.${i + 1}`)));
    expect(accepted + full).toBe(1000);
    expect(accepted).toBeGreaterThanOrEqual(500);
    await waitFor(
      'every accepted delivery refused by the worker',
      () => refusedByWorker() - refusedBefore === accepted,
    );
    await waitFor('every place given back', async () => (await held()) === 0);
    // No job, finished or failed, is kept with its body.
    await waitFor('no job left in the queue', async () => (await queueJobKeys()).length === 0);
    const after = await usedMemory();
    expect(Math.abs(after - before)).toBeLessThan(10 * 1024 * 1024);
  }, 600_000);
});
