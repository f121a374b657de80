import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { portableRule } from '@toolplane/access';
import {
  type AccessPolicyRule,
  type AuditEventInput,
  type QuotaRule,
  redisKeys,
  subscriptionsKey,
  subscriptionStreamKey,
  type CatalogEventType,
  type EventSubscription,
} from '@toolplane/contracts';
import { QuotaMeter } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { fanOut, forgetGiven, givenKey, portableDeliveryCheck, type Delivery, type FanOutDeps } from './fan-out.ts';
import type { ServerEvents } from './sources.ts';

// The fan-out on the real Redis from tests/setup/global-setup.js; each case its own instance id.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the fan-out tests need Redis');
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
const instances: string[] = [];
// Published state of this file's own prefix: the subscribers' key (each subscription follows its credential).
const prefix = `fan-out-test-${randomUUID()}`;
const keyHash = 'key-hash-of-the-subscriber';

afterAll(async () => {
  for (const instanceId of instances) {
    const left = await redis.keys(`{ev:${instanceId}}:*`);
    if (left.length) await redis.del(...left);
  }
  await redis.del(redisKeys(prefix).apiKeys);
  redis.disconnect();
});

const type: CatalogEventType = {
  event: { name: 'push', inputSchema: { type: 'object' }, delivery: ['poll', 'webhook'] },
  source: { connector: 'gh', instance: 'gh', instanceId: 'set-below' },
  match: { provider: 'github', types: ['push'] },
};
const server: ServerEvents = { serverId: 'srv-1', serverName: 'gh', catalogVersion: 1, types: [type], guardrails: [] };

function setUp() {
  const instanceId = `inst-${randomUUID()}`;
  instances.push(instanceId);
  const woken: string[] = [];
  const deps: FanOutDeps = {
    redis: redis as unknown as RedisClient,
    prefix,
    log: { info: () => undefined, warn: () => undefined },
    sessions: { add: () => Promise.resolve() },
    workspaceAccess: (workspaceId) => Promise.resolve({ v: 1, workspaceId, policies: [] }),
    quotaMeter: { charge: () => Promise.reject(new Error('no quota applies here')) },
    maxScanBytes: 65_536,
    streamMaxLen: 100,
    now: () => Date.now(),
    webhookEntry: (_instance, id) => void woken.push(id),
  };
  const sub = (id: string, delivery: EventSubscription['delivery']): EventSubscription => ({
    v: 1,
    id,
    workspaceId: 'ws-1',
    serverId: server.serverId,
    instanceId,
    name: 'push',
    arguments: {},
    principal: { keyId: 'key-1' },
    credential: { keyHash },
    delivery,
    createdAt: Date.now(),
    expiresAt: Date.now() + 60_000,
  });
  const where = { instanceId, workspaceId: 'ws-1', servers: [server] };
  const add = async (s: EventSubscription) => {
    const key = { keyId: 'key-1', workspaceId: 'ws-1', scopes: ['runtime'], revoked: false };
    await redis.hset(redisKeys(prefix).apiKeys, keyHash, JSON.stringify(key));
    await redis.hset(subscriptionsKey(instanceId), s.id, JSON.stringify(s));
  };
  const entries = async (id: string) =>
    (await redis.xrange(subscriptionStreamKey(instanceId, id), '-', '+')).map(
      ([, fields]) => (JSON.parse(fields[1]!) as { eventId: string }).eventId,
    );
  return { deps, sub, where, add, entries, woken, instanceId };
}

describe('fanOut run again for the same occurrence (a stalled job retried after its worker died)', () => {
  it('gives each subscription only what it was not given yet: nothing twice, a webhook deliverer woken once', async () => {
    const t = setUp();
    const occurrence = { eventId: 'evt-1', types: ['push'], data: { n: 1 }, timestamp: new Date().toISOString() };
    await t.add(t.sub('sub-poll', 'poll'));
    await t.add(t.sub('sub-hook', 'webhook'));
    const first = await fanOut(t.deps, t.where, occurrence);
    expect(first.every((g) => g.given)).toBe(true);
    // A subscription made between the first run and the second (the worker died before the seen set was written).
    await t.add(t.sub('sub-late', 'poll'));
    const again = await fanOut(t.deps, t.where, occurrence);
    expect(again.map((g) => g.id).sort()).toEqual(['sub-hook', 'sub-late', 'sub-poll']);
    expect(await t.entries('sub-poll')).toEqual(['evt-1']);
    expect(await t.entries('sub-hook')).toEqual(['evt-1']);
    expect(await t.entries('sub-late')).toEqual(['evt-1']);
    expect(t.woken).toEqual(['sub-hook']);
    // The next occurrence is given as usual; once forgotten (the delivery in the seen set), no record is left.
    await fanOut(t.deps, t.where, { ...occurrence, eventId: 'evt-2' });
    expect(await t.entries('sub-poll')).toEqual(['evt-1', 'evt-2']);
    await forgetGiven(t.deps, t.instanceId, 'evt-1');
    expect(await redis.exists(givenKey(t.instanceId, 'evt-1'))).toBe(0);
    expect(await redis.pttl(givenKey(t.instanceId, 'evt-2'))).toBeGreaterThan(0);
  });

  it('two runs at once give a subscription the occurrence once', async () => {
    const t = setUp();
    const occurrence = { eventId: 'evt-race', types: ['push'], data: {}, timestamp: new Date().toISOString() };
    for (let i = 0; i < 5; i++) await t.add(t.sub(`sub-${i}`, 'poll'));
    await Promise.all([fanOut(t.deps, t.where, occurrence), fanOut(t.deps, t.where, occurrence)]);
    for (let i = 0; i < 5; i++) expect(await t.entries(`sub-${i}`)).toEqual(['evt-race']);
  });
});

describe("an occurrence's decisions are audit events, as a call's are", () => {
  const condition = (id: string, enforce: boolean): AccessPolicyRule => ({
    id,
    name: id,
    principals: [{ type: 'api_key', value: 'key-1' }],
    servers: [server.serverId],
    tools: ['push'],
    condition: 'args.event.data.n != 1',
    ...(enforce ? {} : { enforce: false }),
  });
  const quota = (id: string, enforce: boolean): QuotaRule => ({
    id,
    name: id,
    match: { servers: [server.serverId], tools: ['push'] },
    counts: 'calls',
    limit: 0,
    window: 'day',
    enforce,
  });

  /** One subscription of key-1 under these rules; each occurrence's `given` and the audit events it wrote. */
  async function judged(policies: AccessPolicyRule[], quotas: QuotaRule[], data: readonly unknown[]) {
    const t = setUp();
    const events: AuditEventInput[] = [];
    const deps: FanOutDeps = {
      ...t.deps,
      workspaceAccess: (workspaceId) => Promise.resolve({ v: 1, workspaceId, policies, quotas }),
      quotaMeter: new QuotaMeter(redis as unknown as RedisClient, `${prefix}-${t.instanceId}`, 60),
      audit: { add: (e) => void events.push(e) },
    };
    await t.add(t.sub('sub-1', 'poll'));
    const given: boolean[] = [];
    for (const [i, d] of data.entries()) {
      const occurrence = { eventId: `evt-${i}`, types: ['push'], data: d, timestamp: new Date().toISOString() };
      given.push(...(await fanOut(deps, t.where, occurrence)).map((g) => g.given));
    }
    const seen = events.map((e) => [e.action, e.outcome, e.resource.id, e.actor.id, e.details?.tool]);
    return { given, events, seen };
  }

  it('a false condition refuses the occurrence, naming the policy; one that cannot read its field is false too', async () => {
    const r = await judged([condition('p-enforced', true)], [], [{ n: 2 }, { n: 1 }, { m: 2 }]);
    expect(r.given).toEqual([true, false, false]);
    expect(r.seen).toEqual([
      ['tool.call_refused', 'refused', 'srv-1/push', 'key-1', 'push'],
      ['tool.call_refused', 'refused', 'srv-1/push', 'key-1', 'push'],
    ]);
    expect(r.events[0]!.details).toMatchObject({ policy: { id: 'p-enforced', name: 'p-enforced' }, server: 'gh' });
    expect(r.events[0]!.source.requestId).toBe('evt-1');
    // The occurrence's data is never in the trail.
    expect(JSON.stringify(r.events)).not.toContain('"n"');
  });

  it("a log-only policy's would-be refusal: given, recorded with the occurrence named", async () => {
    const r = await judged([condition('p-log', false)], [], [{ n: 1 }, { n: 2 }]);
    expect(r.given).toEqual([true, true]);
    expect(r.seen).toEqual([['access.would_refuse', 'success', 'p-log', 'key-1', 'push']]);
    expect(r.events[0]!.details).toMatchObject({ would: 'refuse', invocationId: 'evt-0' });
  });

  it("a quota's refusal and a log-only quota's would-be refusal", async () => {
    const enforced = await judged([], [quota('q-enforced', true)], [{ n: 1 }]);
    expect(enforced.given).toEqual([false]);
    expect(enforced.seen).toEqual([['tool.quota_exceeded', 'refused', 'srv-1/push', 'key-1', 'push']]);
    const logged = await judged([], [quota('q-log', false)], [{ n: 1 }]);
    expect(logged.given).toEqual([true]);
    expect(logged.seen[0]).toEqual(['quota.would_refuse', 'success', 'q-log', 'key-1', 'push']);
    expect(logged.events[0]!.details).toMatchObject({ quota: { id: 'q-log', enforce: false }, invocationId: 'evt-0' });
  });
});

describe("a portable rule on the delivery path, through the fan-out's adapter", () => {
  /** A rule of this test's own: an occurrence whose payload names a blocked repository is refused (or logged). */
  const blockedRepository = portableRule<{ repository: string; mode: 'enforce' | 'log_only' }, { by: string }>({
    name: 'blocked-repository',
    settings: z.object({ repository: z.string(), mode: z.enum(['enforce', 'log_only']) }),
    appliesTo: (tool) => tool.name === 'push',
    facet: (caller) => ({ by: caller.keyId ?? 'nobody' }),
    check({ args, settings, facet }) {
      const data = (args.event as { data?: { repository?: unknown } } | undefined)?.data;
      if (data?.repository !== settings.repository || facet.by !== 'key-1') return undefined;
      const refusal = { code: 'blocked-repository.blocked', message: `${settings.repository} is blocked` };
      return settings.mode === 'enforce' ? { refuse: refusal } : { wouldRefuse: refusal };
    },
    loosened: () => [],
  });
  const check = portableDeliveryCheck(blockedRepository);

  /** One delivery of `data` to key-1's subscription on a server with these `ruleSettings`: why not, and the events. */
  function deliver(ruleSettings: unknown, data: unknown) {
    const t = setUp();
    const events: AuditEventInput[] = [];
    const sub = t.sub('sub-1', 'poll');
    const d: Delivery = {
      deps: t.deps,
      sub,
      target: { server: { ...server, ruleSettings }, type, access: undefined },
      data,
      record: (event) => {
        const base = {
          workspaceId: sub.workspaceId,
          serverId: server.serverId,
          serverName: server.serverName,
          tool: sub.name,
          actor: { type: 'api_key' as const, id: 'key-1', name: null },
          source: { requestId: 'evt-1', traceId: null, clientAddress: null, userAgent: null },
        };
        events.push(event(base, 'evt-1'));
      },
    };
    return { why: check.run(d), events: events.map((e) => [e.action, e.details]) };
  }

  it('is named as the rule, and a server that does not set the rule judges nothing', () => {
    expect(check.name).toBe('blocked-repository');
    expect(deliver(undefined, { repository: 'acme/secret' })).toEqual({ why: undefined, events: [] });
    expect(deliver({ other: {} }, { repository: 'acme/secret' })).toEqual({ why: undefined, events: [] });
  });

  it('refuses an occurrence its check refuses, as a refused call is recorded; others go on', () => {
    const settings = { 'blocked-repository': { repository: 'acme/secret', mode: 'enforce' } };
    const refused = deliver(settings, { repository: 'acme/secret' });
    expect(refused.why).toBe('rule blocked-repository: blocked-repository.blocked');
    expect(refused.events).toEqual([
      [
        'tool.call_refused',
        {
          refusedBy: 'blocked-repository',
          code: 'blocked-repository.blocked',
          server: 'gh',
          tool: 'push',
          invocationId: 'evt-1',
        },
      ],
    ]);
    expect(deliver(settings, { repository: 'acme/open' })).toEqual({ why: undefined, events: [] });
  });

  it("a log-only rule's would-be refusal is recorded and the occurrence given; unreadable settings refuse", () => {
    const logged = deliver(
      { 'blocked-repository': { repository: 'acme/secret', mode: 'log_only' } },
      {
        repository: 'acme/secret',
      },
    );
    expect(logged.why).toBeUndefined();
    expect(logged.events).toEqual([
      [
        'rule.would_refuse',
        expect.objectContaining({ rule: 'blocked-repository', code: 'blocked-repository.blocked' }),
      ],
    ]);
    const unreadable = deliver({ 'blocked-repository': { repository: 7 } }, { repository: 'acme/open' });
    expect(unreadable.why).toBe('rule blocked-repository: blocked-repository.unavailable');
  });
});
