import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { QuotaRule, WorkspaceAccess } from '@toolplane/contracts';
import { Redis } from 'ioredis';
import {
  callerQuotas,
  QuotaMeter,
  quotasOfTool,
  type CallQuotas,
  type ChargeOutcome,
  type QuotaCharge,
} from './quotas.ts';

// Real Redis from tests/setup/global-setup.js, own prefix.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the edge quota tests need Redis');
const prefix = `tpq${randomUUID().slice(0, 8)}`;
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const rule = (over: Partial<QuotaRule> & Pick<QuotaRule, 'id'>): QuotaRule => ({
  name: over.id,
  match: {},
  counts: 'calls',
  limit: 3,
  window: 'hour',
  enforce: true,
  ...over,
});

const access = (quotas: QuotaRule[]): WorkspaceAccess => ({ v: 1, workspaceId: 'ws-1', policies: [], quotas });

describe('which quotas apply', () => {
  it('matches every given field, tools by name or pattern, and nothing when the workspace has none', () => {
    const quotas = [
      rule({ id: 'alice-send', match: { people: ['alice'], tools: ['send_*'] } }),
      rule({ id: 'key-1', match: { apiKeys: ['k1'], servers: ['s1'] } }),
      rule({ id: 'support', match: { claims: [{ claim: 'groups', contains: 'support' }] } }),
    ];
    expect(callerQuotas(access([]), { keyId: 'k1' }, 's1')).toBeUndefined();
    const alice = callerQuotas(access(quotas), { keyId: 'k1', person: 'alice' }, 's1')!;
    expect(alice.rules.map((r) => r.id)).toEqual(['alice-send', 'key-1']);
    expect(quotasOfTool(alice, 'send_message').map((r) => r.id)).toEqual(['alice-send', 'key-1']);
    expect(quotasOfTool(alice, 'search').map((r) => r.id)).toEqual(['key-1']);
    expect(callerQuotas(access(quotas), { keyId: 'k1' }, 's2')).toBeUndefined();
    const support = callerQuotas(access(quotas), { subject: 'u', claims: { groups: ['x', 'support'] } }, 's2')!;
    expect(support.rules.map((r) => r.id)).toEqual(['support']);
    expect(callerQuotas(access(quotas), { subject: 'u', claims: { groups: 'support-2' } }, 's2')).toBeUndefined();
  });
});

describe('QuotaMeter', () => {
  const meter = new QuotaMeter(redis, prefix, 60);
  const quotasFor = (rules: QuotaRule[], caller: CallQuotas['caller'] = {}): CallQuotas => ({
    workspaceId: `ws-${randomUUID()}`,
    rules,
    caller,
  });

  it('allows exactly the limit of many concurrent calls, and says when the window resets', async () => {
    const quotas = quotasFor([rule({ id: 'q', limit: 7, window: 'day' })]);
    const outcomes = await Promise.all(Array.from({ length: 40 }, () => meter.charge(quotas, quotas.rules, 1)));
    expect(outcomes.filter((o) => !o.refused)).toHaveLength(7);
    const refused = outcomes.find((o) => o.refused)!.refused!;
    expect(refused.used).toBe(7);
    expect(refused.retryAfterSeconds).toBeGreaterThan(0);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(25 * 3600);
  });

  it('checks every quota of a call in one step: a refusal by one charges none of the others', async () => {
    const rules = [rule({ id: 'wide', limit: 100 }), rule({ id: 'narrow', limit: 1 })];
    const quotas = quotasFor(rules);
    expect((await meter.charge(quotas, rules, 1)).refused).toBeUndefined();
    const second = await meter.charge(quotas, rules, 1);
    expect(second.refused?.rule.id).toBe('narrow');
    const keys = await redis.keys(`${prefix}:quota:{q:${quotas.workspaceId}}:wide:*`);
    expect(await redis.get(keys[0]!)).toBe('1');
  });

  it('counts per person when asked: alice and bob get the limit each', async () => {
    const rules = [rule({ id: 'per', limit: 2, per: 'person' })];
    const workspaceId = `ws-${randomUUID()}`;
    const as = (person: string): CallQuotas => ({ workspaceId, rules, caller: { person } });
    const results = await Promise.all(
      ['alice', 'alice', 'alice', 'bob', 'bob', 'bob'].map((p) => meter.charge(as(p), rules, 1)),
    );
    expect(results.map((r) => r.refused === undefined)).toEqual([true, true, false, true, true, false]);
  });

  it('never counts a person named "-" with the calls acting as no person', async () => {
    const rules = [rule({ id: 'per', limit: 1, per: 'person' })];
    const workspaceId = `ws-${randomUUID()}`;
    const dash: CallQuotas = { workspaceId, rules, caller: { person: '-' } };
    const nobody: CallQuotas = { workspaceId, rules, caller: {} };
    expect((await meter.charge(nobody, rules, 1)).refused).toBeUndefined();
    expect((await meter.charge(dash, rules, 1)).refused).toBeUndefined();
    expect((await meter.charge(dash, rules, 1)).refused?.used).toBe(1);
    expect((await meter.charge(nobody, rules, 1)).refused?.used).toBe(1);
  });

  it('counts cost units, and a refund gives them back', async () => {
    const rules = [rule({ id: 'cost', counts: 'cost', limit: 10, window: 'month' })];
    const quotas = quotasFor(rules);
    const first = await meter.charge(quotas, rules, 6);
    expect(first.refused).toBeUndefined();
    expect((await meter.charge(quotas, rules, 6)).refused?.used).toBe(6);
    await meter.release((first as { charge: Parameters<QuotaMeter['release']>[0] }).charge, {
      windowed: true,
      inFlight: true,
    });
    expect((await meter.charge(quotas, rules, 10)).refused).toBeUndefined();
  });

  it('holds a call in flight until it ends', async () => {
    const rules = [rule({ id: 'inflight', counts: 'in_flight', limit: 2, window: undefined })];
    const quotas = quotasFor(rules);
    const a = await meter.charge(quotas, rules, 1);
    const b = await meter.charge(quotas, rules, 1);
    expect((await meter.charge(quotas, rules, 1)).refused?.rule.id).toBe('inflight');
    await meter.release((a as { charge: Parameters<QuotaMeter['release']>[0] }).charge, {
      windowed: false,
      inFlight: true,
    });
    expect((await meter.charge(quotas, rules, 1)).refused).toBeUndefined();
    expect(b.refused).toBeUndefined();
  });

  it('in shadow mode refuses nothing and names what it would have refused', async () => {
    const rules = [rule({ id: 'shadow', limit: 1, enforce: false })];
    const quotas = quotasFor(rules);
    expect((await meter.charge(quotas, rules, 1)).shadow).toEqual([]);
    const over = await meter.charge(quotas, rules, 1);
    expect(over.refused).toBeUndefined();
    expect(over.shadow.map((s) => s.rule.id)).toEqual(['shadow']);
  });

  it('alerts at 80 and 100 % once per window across two edges, also after units are given back', async () => {
    const rules = [rule({ id: 'alerting', limit: 5, window: 'day' })];
    const quotas = quotasFor(rules);
    const other = new QuotaMeter(redis, prefix, 60);
    const alertsOf = (o: ChargeOutcome) => o.alerts.map((a) => `${a.threshold}@${a.used}`);
    const outcomes: ChargeOutcome[] = [];
    for (let i = 0; i < 5; i++) outcomes.push(await (i % 2 ? other : meter).charge(quotas, rules, 1));
    expect(outcomes.flatMap(alertsOf)).toEqual(['80@4', '100@5']);
    const [counter] = await redis.keys(`${prefix}:quota:{q:${quotas.workspaceId}}:alerting:*`);
    const [marker] = await redis.keys(`${prefix}:quota-alert:{q:${quotas.workspaceId}}:alerting:*`);
    expect(await redis.hkeys(marker!)).toEqual(['80', '100']);
    expect(Math.abs((await redis.ttl(marker!)) - (await redis.ttl(counter!)))).toBeLessThanOrEqual(1);
    // The last two given back (nothing ran), then charged again: this window has alerted already.
    for (const o of outcomes.slice(3))
      await meter.release((o as { charge: QuotaCharge }).charge, { windowed: true, inFlight: true });
    expect(await redis.get(counter!)).toBe('3');
    expect(alertsOf(await other.charge(quotas, rules, 1))).toEqual([]);
    expect(alertsOf(await meter.charge(quotas, rules, 1))).toEqual([]);
    expect((await other.charge(quotas, rules, 1)).refused?.used).toBe(5);
    // Both crossings at once: a cost that jumps from under 80 % to the limit.
    const cost = [rule({ id: 'jump', counts: 'cost', limit: 10, window: 'month' })];
    const budget = quotasFor(cost);
    expect(alertsOf(await meter.charge(budget, cost, 3))).toEqual([]);
    expect(alertsOf(await other.charge(budget, cost, 7))).toEqual(['80@10', '100@10']);
  });

  it('alerts for shadow quotas too, and reports how full each quota is', async () => {
    const rules = [rule({ id: 'shadow-alert', limit: 2, enforce: false }), rule({ id: 'roomy', limit: 10 })];
    const quotas = quotasFor(rules);
    const first = await meter.charge(quotas, rules, 1);
    expect(first.uses.map((u) => u.fraction)).toEqual([0.5, 0.1]);
    const second = await meter.charge(quotas, rules, 1);
    expect(second.alerts.map((a) => [a.rule.id, a.threshold, a.period])).toEqual([
      ['shadow-alert', 80, expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}$/)],
      ['shadow-alert', 100, expect.any(String)],
    ]);
    const third = await meter.charge(quotas, rules, 1);
    expect(third.refused).toBeUndefined();
    expect(third.shadow.map((s) => [s.rule.id, s.used])).toEqual([['shadow-alert', 2]]);
    expect(third.alerts).toEqual([]);
    expect(third.uses.map((u) => u.fraction)).toEqual([1.5, 0.3]);
  });

  it('throws when Redis cannot be asked (the caller fails closed)', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, retryStrategy: () => null });
    dead.on('error', () => undefined);
    const quotas = quotasFor([rule({ id: 'q' })]);
    await expect(new QuotaMeter(dead, prefix, 60).charge(quotas, quotas.rules, 1)).rejects.toThrow();
    dead.disconnect();
  });
});
