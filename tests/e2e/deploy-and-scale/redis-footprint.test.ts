import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { Redis } from 'ioredis';
import { startTestStack, withoutRateLimits } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { waitFor } from '../../helpers/wait.ts';

// What an answered tool call leaves in Redis. A platform team sizes Redis for the calls in flight, not for the
// call history: once answered, a GET leaves nothing per call (its job and reply are removed, its records leave
// with the batch, and, safe to send again, it writes no execution lease: ADR 0015); a POST leaves only its
// execution lease, which expires at the call's deadline plus EXECUTION_LEASE_GRACE_MS.
const CALLS = 300;
const GRACE_MS = 900_000; // EXECUTION_LEASE_GRACE_MS's default
const TIMEOUT_MS = 30_000; // TOOL_CALL_TIMEOUT_MS's default

let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;
let redis: Redis;

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  const started = await startTestStack('footprint', { logLevel: 'warn' });
  stack = started.stack;
  example = await registerTicketExample(
    started.api,
    upstream.url,
    'k',
    'footprint',
    withoutRateLimits(ticketSystemDescriptorYaml),
  );
  redis = new Redis(stack.redisUrl);
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
  await upstream?.close();
});

/** Calls `tool` `count` times, 10 at a time; every answer must be a result, not an error. */
async function callMany(tool: string, args: (i: number) => Record<string, unknown>, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      for (let i = next++; i < count; i = next++) {
        const res = await postMcp(
          example.mcpUrl,
          { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: tool, arguments: args(i) } },
          { 'x-api-key': stack.bootstrapKey, 'mcp-protocol-version': '2025-11-25' },
        );
        const body = await res.text();
        expect({ status: res.status, isError: body.includes('"isError":true') }).toEqual({
          status: 200,
          isError: false,
        });
      }
    }),
  );
}

/** The stack's keys matching `pattern` (after its prefix). */
async function keysMatching(pattern: string): Promise<string[]> {
  const found: string[] = [];
  const scan = redis.scanStream({ match: `${stack.redisPrefix}:${pattern}`, count: 1000 });
  for await (const keys of scan as AsyncIterable<string[]>) found.push(...keys);
  return found;
}

/** The stack's keys by shape (ids and numbers replaced), with their counts. */
async function keyShapes(): Promise<Map<string, number>> {
  const shapes = new Map<string, number>();
  for (const key of await keysMatching('*')) {
    const shape = key
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
      .replace(/:\d+(?=:|$)/g, ':<n>');
    shapes.set(shape, (shapes.get(shape) ?? 0) + 1);
  }
  return shapes;
}

/** Shapes whose count grew from `before` to `after`, with the growth. */
function growth(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const grown: Record<string, number> = {};
  for (const [shape, n] of after) if (n > (before.get(shape) ?? 0)) grown[shape] = n - (before.get(shape) ?? 0);
  return grown;
}

/** Waits until what the calls left settles: no job of the tool-invocation queue still held (active or completed). */
async function settled(): Promise<Map<string, number>> {
  return waitFor('the answered jobs to leave Redis', async () => {
    const shapes = await keyShapes();
    const jobs = [...shapes]
      .filter(([shape]) => /:tool-invocations:(<n>|<id>)$/.test(shape))
      .reduce((a, [, n]) => a + n, 0);
    return jobs === 0 ? shapes : undefined;
  });
}

describe('what an answered call leaves in Redis', () => {
  it('a GET leaves nothing per call; a POST leaves its execution lease only, expiring at the deadline plus the grace', async () => {
    // One-time keys first (catalog, plans, queue metadata, the rollup's current buckets).
    await callMany('get_ticket', () => ({ ticket_id: 'TCK-1' }), 20);
    await callMany('create_ticket', (i) => ({ title: `warm-up ${i}` }), 1);
    const before = await settled();

    await callMany('get_ticket', () => ({ ticket_id: 'TCK-1' }), CALLS);
    const afterGets = await settled();
    const fromGets = growth(before, afterGets);
    // Nothing grows with the number of calls (a time bucket may start while they run).
    expect(Object.entries(fromGets).filter(([, n]) => n >= CALLS / 10)).toEqual([]);
    expect(fromGets[`${stack.redisPrefix}:lease:<id>`]).toBeUndefined();

    const posts = 50;
    await callMany('create_ticket', (i) => ({ title: `footprint ${i}` }), posts);
    const afterPosts = await settled();
    const fromPosts = growth(afterGets, afterPosts);
    expect(fromPosts[`${stack.redisPrefix}:lease:<id>`]).toBe(posts);
    expect(Object.entries(fromPosts).filter(([shape, n]) => !shape.endsWith(':lease:<id>') && n >= posts / 5)).toEqual(
      [],
    );
    // Each lease lives until its call's deadline plus the grace, not longer.
    const leaseKeys = await keysMatching('lease:*');
    expect(leaseKeys.length).toBe(posts + 1); // with the warm-up's POST
    const ttls = await Promise.all(leaseKeys.map((k) => redis.pttl(k)));
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(TIMEOUT_MS + GRACE_MS);
    }
  }, 120_000);
});
