// bench/events: MCP Events end to end (docs/events.md, ADR 0081): a provider's signed webhook POSTed to the edge's
// inbound URL → verified and fanned out by the worker → delivered, signed as Standard Webhooks, to each webhook
// subscriber's callback. A stack (embedded PostgreSQL and Redis), a connector with a Stripe-signed event type, a server
// exposing it, `--subscribers` webhook subscriptions made over MCP (`events/subscribe`), each with a callback on
// 127.0.0.1 that answers the verification handshake and checks every delivery's signature with `standardwebhooks`.
// Then `--concurrency` senders in a closed loop for `--seconds`: each POSTs a signed delivery and waits until every
// subscriber has it. Prints events/s (received by all), the latency of each delivery (inbound POST sent → callback
// received) p50/p90/p99/max, the stack's CPU ms per event by process, and exits non-zero when an event was lost or
// delivered twice with a different id. Not a test: copy the line into docs/benchmarks.md.
//
//   pnpm bench:events [--seconds 10] [--concurrency 8] [--subscribers 1] [--warmup 2] [--cpu-prof DIR]
// (`--cpu-prof DIR`: every service writes a V8 CPU profile there; read them with bench/profile-summary.ts)

import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startStack } from '@toolplane/cli';
import { createManagementClient, unwrap } from '@toolplane/client';
import { Webhook } from 'standardwebhooks';
import { cpuPerCall, cpuSnapshot, formatCpuPerCall, type MeasuredProcess } from './cpu.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '8' },
    subscribers: { type: 'string', default: '1' },
    warmup: { type: 'string', default: '2' },
    'cpu-prof': { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const subscribers = Number(values.subscribers);
const warmupSeconds = Number(values.warmup);
/** How long one event may take to reach every subscriber before it counts as lost. */
const lostAfterMs = 60_000;

const providerSecret = `whsec_${randomBytes(16).toString('hex')}`;
const callbackSecret = `whsec_${randomBytes(24).toString('base64')}`;
const verifier = new Webhook(callbackSecret);

/** Per event id: when it was sent, and the subscribers that have not received it yet. */
const pending = new Map<string, { sentAt: number; waiting: Set<number>; done: () => void }>();
const latencies: number[] = [];
const tally = { received: 0, duplicates: 0, badSignatures: 0, unknown: 0, refusedInbound: 0 };
/** Every (subscriber, eventId) received, to count a second delivery of the same event. */
const seen = new Set<string>();

function onDelivery(subscriber: number, body: string, headers: Record<string, string>): number {
  let message: { type?: string; challenge?: string; eventId?: string };
  try {
    message = verifier.verify(body, headers) as typeof message;
  } catch {
    tally.badSignatures++;
    return 401;
  }
  if (message.type === 'verification') return 200;
  const id = message.eventId ?? '';
  if (seen.has(`${subscriber}:${id}`)) {
    tally.duplicates++; // the same eventId again: at least once, a receiver drops it
    return 204;
  }
  seen.add(`${subscriber}:${id}`);
  const wait = pending.get(id);
  if (!wait) {
    tally.unknown++;
    return 204;
  }
  tally.received++;
  latencies.push(performance.now() - wait.sentAt);
  wait.waiting.delete(subscriber);
  if (wait.waiting.size === 0) wait.done();
  return 204;
}

function callbackServer(subscriber: number): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const status = onDelivery(subscriber, body, req.headers as Record<string, string>);
      const challenge = status === 200 ? (JSON.parse(body) as { challenge?: string }).challenge : undefined;
      res.writeHead(status).end(challenge ?? '');
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** A Stripe-signed `payment_intent.succeeded` delivery. */
function stripeDelivery() {
  const id = `evt_${randomBytes(8).toString('hex')}`;
  const body = JSON.stringify({ id, type: 'payment_intent.succeeded', data: { object: { id: `pi_${id}` } } });
  const t = Math.floor(Date.now() / 1000);
  const v1 = createHmac('sha256', providerSecret).update(`${t}.${body}`).digest('hex');
  return { id, body, headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${v1}` } };
}

/** Sends one delivery and waits until every subscriber has it (or it counts as lost). */
async function sendOne(hookUrl: string): Promise<'ok' | 'lost' | 'refused'> {
  const d = stripeDelivery();
  let done!: () => void;
  const received = new Promise<void>((r) => (done = r));
  pending.set(d.id, {
    sentAt: performance.now(),
    waiting: new Set(Array.from({ length: subscribers }, (_, i) => i)),
    done,
  });
  const res = await fetch(hookUrl, { method: 'POST', headers: d.headers, body: d.body });
  const answer = await res.text();
  if (res.status !== 202) {
    pending.delete(d.id);
    if (tally.refusedInbound++ === 0) console.error(`the inbound URL answered ${res.status}: ${answer.slice(0, 300)}`);
    return 'refused';
  }
  let timer: NodeJS.Timeout | undefined;
  const lost = new Promise<'lost'>((r) => (timer = setTimeout(() => r('lost'), lostAfterMs)));
  const outcome = await Promise.race([received.then(() => 'ok' as const), lost]);
  clearTimeout(timer);
  pending.delete(d.id);
  return outcome;
}

/** `concurrency` senders in a closed loop until `ms` have passed: events received by all, lost, refused. */
async function closedLoop(hookUrl: string, ms: number) {
  const end = performance.now() + ms;
  const counts = { ok: 0, lost: 0, refused: 0 };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) counts[await sendOne(hookUrl)]++;
    }),
  );
  return counts;
}

const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

const dir = mkdtempSync(join(tmpdir(), 'toolplane-bench-events-'));
const callbacks = await Promise.all(Array.from({ length: subscribers }, (_, i) => callbackServer(i)));
const stack = await startStack({
  dataDir: dir,
  logLevel: 'warn',
  ...(values['cpu-prof'] ? { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${values['cpu-prof']}` } } : {}),
  // All senders are one address here; a public route's budget per address (600 a minute) would refuse most of them.
  serviceEnv: { edge: { EVENTS_ALLOW_LOOPBACK_CALLBACKS: 'true', UNAUTH_RATE_LIMIT: '0' } },
});
let failed: boolean;
try {
  const api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  const { hookUrl, mcpUrl } = await eventSource(api);
  for (const [i, cb] of callbacks.entries()) {
    const url = `http://127.0.0.1:${(cb.address() as AddressInfo).port}/s${i}`;
    await subscribe(mcpUrl, url);
  }
  await closedLoop(hookUrl, warmupSeconds * 1000);
  latencies.length = 0;
  tally.received = 0;
  const procs = measuredProcesses();
  const before = cpuSnapshot(procs);
  const started = performance.now();
  const counts = await closedLoop(hookUrl, seconds * 1000);
  const elapsed = (performance.now() - started) / 1000;
  const cpu = cpuPerCall(procs, before, cpuSnapshot(procs), counts.ok);
  const ms = (p: number) => percentile(latencies, p).toFixed(1);
  console.log(
    `events: ${(counts.ok / elapsed).toFixed(0)} events/s received by all ${subscribers} subscriber(s) at ${concurrency} ` +
      `in flight; delivery p50 ${ms(50)} ms, p90 ${ms(90)}, p99 ${ms(99)}, max ${ms(100)} (${latencies.length} deliveries)`,
  );
  console.log(
    `lost ${counts.lost}, refused at the inbound URL ${tally.refusedInbound}, duplicates (same eventId) ${tally.duplicates}, ` +
      `bad signatures ${tally.badSignatures}, unknown ids ${tally.unknown}`,
  );
  console.log(`CPU per event: ${formatCpuPerCall(cpu)}`);
  failed = counts.lost > 0 || counts.refused > 0 || tally.badSignatures > 0 || tally.unknown > 0;
} finally {
  await stack.stop();
  for (const cb of callbacks) {
    cb.closeAllConnections();
    cb.close();
  }
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

type Api = ReturnType<typeof createManagementClient>;

/** A connector whose instance takes Stripe-signed deliveries, and a server exposing its event type. */
async function eventSource(api: Api): Promise<{ hookUrl: string; mcpUrl: string }> {
  const descriptor = {
    metadata: { name: 'pay', slug: 'pay', version: '1.0.0' },
    authentication: [],
    operations: [{ operation_id: 'ping', endpoint: 'https://api.example.com/ping', method: 'GET' }],
    mcp_config: {
      enabled: true,
      server_name: 'pay',
      server_description: 'Payments',
      route_mappings: [{ operation_id: 'ping', mcp_tool_name: 'ping', mcp_tool_description: 'Ping' }],
    },
    events: { provider: 'stripe', types: [{ name: 'payment_succeeded', match: ['payment_intent.succeeded'] }] },
  };
  const connector = await unwrap(api.POST('/connectors', { body: descriptor as never }));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'pay', webhook_secret: providerSecret },
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
  return { hookUrl: `${stack.edgeUrl}/hooks/${instance.id}`, mcpUrl: server.url };
}

/** `events/subscribe` by webhook over MCP, retried while the server's catalog is being published. */
async function subscribe(mcpUrl: string, url: string): Promise<void> {
  const params = {
    name: 'payment_succeeded',
    arguments: {},
    delivery: { mode: 'webhook', url, secret: callbackSecret },
  };
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        'x-api-key': stack.bootstrapKey,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'events/subscribe', params }),
    });
    const answer = (await res.json().catch(() => ({}))) as { result?: unknown; error?: { message: string } };
    if (answer.result) return;
    if (attempt >= 50) throw new Error(`events/subscribe failed: ${answer.error?.message ?? res.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function measuredProcesses(): MeasuredProcess[] {
  const postmaster = Number(readFileSync(join(stack.dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return [
    ...stack.processes.map((p) => ({ name: p.name, pid: p.child.pid!, role: p.service })),
    ...(stack.redisPid ? [{ name: 'redis', pid: stack.redisPid, role: 'redis' as const }] : []),
    { name: 'postgres', pid: postmaster, role: 'postgres' },
    { name: 'bench (senders and callbacks)', pid: process.pid, role: 'bench', ownOnly: true },
  ];
}
