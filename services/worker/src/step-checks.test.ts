import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import type {
  AuditEventInput,
  GuardrailRule,
  QuotaRule,
  SessionRule,
  ToolStepPlan,
  WorkspaceAccess,
} from '@toolplane/contracts';
import { compileGuardrails } from '@toolplane/guardrails';
import type { Logger } from '@toolplane/logger';
import { DelegationCalls, QuotaMeter } from '@toolplane/queue';
import { Redis } from 'ioredis';
import { redisSessionStore, type SessionStore } from './session-labels.ts';
import { checkStep, type StepCheckDeps } from './step-checks.ts';

// Real Redis from tests/setup/global-setup.js, own prefix: the step's quotas in the counters a direct call charges.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the step checks need Redis');
const prefix = `tps${randomUUID().slice(0, 8)}`;
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
const silent = () => undefined;
const log = { debug: silent, info: silent, warn: silent, error: silent } as unknown as Logger;

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const step: ToolStepPlan = {
  name: 'log_event',
  serverId: 's1',
  serverName: 'logs',
  plan: { kind: 'mcp', server: 'logs', url: 'http://127.0.0.1:1/mcp', remoteTool: 'log_event' },
};
const job = {
  invocationId: 'i1',
  principal: { workspaceId: 'w1', keyId: 'k1' },
  stepCaller: { identity: { keyId: 'k1' }, condition: { key_id: 'k1' } },
};
const grantAll = { id: 'p1', name: 'all', principals: [{ type: 'api_key' as const, value: 'k1' }], servers: ['*'] };

function deps(quotas: QuotaRule[], guardrails: GuardrailRule[] = []): StepCheckDeps {
  const workspaceId = `w-${randomUUID()}`;
  const access: WorkspaceAccess = { v: 1, workspaceId, policies: [{ ...grantAll, tools: ['*'] }], quotas };
  return {
    workspaceAccess: async () => access,
    quotaMeter: new QuotaMeter(redis, prefix, 60),
    argumentGuardrails: { of: async () => compileGuardrails(guardrails, 'arguments') },
    log,
  };
}

describe('a workflow step on a hosted server’s tool', () => {
  it('holds its tool’s call-in-flight slot until it ends; a second step meanwhile is refused, naming the quota', async () => {
    const d = deps([
      { id: 'q1', name: 'one-log', match: { tools: ['log_event'] }, counts: 'in_flight', limit: 1, enforce: true },
    ]);
    const first = await checkStep(d, job, step, { m: 'a' });
    if ('refused' in first) throw new Error(first.refused);
    const second = await checkStep(d, job, step, { m: 'b' });
    expect(second).toEqual({
      refused: 'quota "one-log" (1 call at once) has no room for the step\'s tool "log_event": retry after 1 s.',
    });
    await first.done();
    expect('args' in (await checkStep(d, job, step, { m: 'c' }))).toBe(true);
  });

  it('sends its arguments as its tool’s guardrails leave them: redacted, or refused by a block', async () => {
    const card = '4111111111111111';
    const rule = (action: 'redact' | 'block'): GuardrailRule => ({
      id: `g-${action}`,
      name: `no-cards-${action}`,
      tools: ['log_event'],
      on: ['arguments'],
      detectors: [{ kind: 'pii', types: ['card'] }],
      action,
      enforce: true,
    });
    const redacted = await checkStep(deps([], [rule('redact')]), job, step, { m: `paid ${card}` });
    expect(redacted).toMatchObject({ args: { m: 'paid [redacted:pii:card]' } });
    const blocked = await checkStep(deps([], [rule('block')]), job, step, { m: `paid ${card}` });
    expect(blocked).toEqual({
      refused:
        'guardrail "no-cards-block" withheld the call of the step\'s tool "log_event": pii:card found at $.m in its arguments.',
    });
  });

  it('of a connector’s operation (no hosted server): nothing applies', async () => {
    const d = deps([{ id: 'q0', name: 'none', match: {}, counts: 'calls', limit: 0, window: 'day', enforce: true }]);
    const { serverId: _none, ...operation } = step;
    expect(await checkStep(d, job, operation, { m: 'x' })).toMatchObject({ args: { m: 'x' } });
  });

  it('records what its log-only rules would have done, as the edge does for a plain call of the tool', async () => {
    const events: AuditEventInput[] = [];
    const shadowQuota: QuotaRule = {
      id: 'q-shadow',
      name: 'no-logs',
      match: { tools: ['log_event'] },
      counts: 'calls',
      limit: 0,
      window: 'minute',
      enforce: false,
    };
    const shadowGuardrail: GuardrailRule = {
      id: 'g-shadow',
      name: 'cards-shadow',
      tools: ['log_event'],
      on: ['arguments'],
      detectors: [{ kind: 'pii', types: ['card'] }],
      action: 'block',
      enforce: false,
    };
    const d = {
      ...deps([shadowQuota], [shadowGuardrail]),
      audit: { add: (e: AuditEventInput) => void events.push(e) },
    };
    const ran = await checkStep(d, job, step, { m: 'paid 4111111111111111' });
    expect(ran).toMatchObject({ args: { m: 'paid 4111111111111111' } });
    // A log-only quota with no room is also full: its alerts (80 and 100 %) as for a plain call.
    expect(events.map((e) => [e.action, e.resource.id, e.actor.id, e.details?.tool])).toEqual([
      ['guardrail.would_block', 'g-shadow', 'k1', 'log_event'],
      ['quota.would_refuse', 'q-shadow', 'k1', 'log_event'],
      ['quota.alert', 'q-shadow', 'k1', 'log_event'],
      ['quota.alert', 'q-shadow', 'k1', 'log_event'],
    ]);
    expect(events.every((e) => e.details?.parentInvocationId === 'i1')).toBe(true);
    expect(JSON.stringify(events)).not.toContain('4111');
  });
});

describe('a workflow step in its caller’s session (ADR 0078)', () => {
  const session = { scopes: ['k:k1'], ttlSeconds: 600 };
  const sessionJob = { ...job, rules: { session } };
  const refuse: SessionRule = {
    id: 'no-send',
    after: ['untrusted'],
    toolLabels: ['external_write'],
    action: 'refuse',
    enforce: true,
  };
  const sendLabels = [{ label: 'external_write' as const, source: 'declared' as const }];
  const readLabels = [{ label: 'untrusted' as const, source: 'declared' as const }];

  /** A quota with no room on the step's tool: a step that reached the quotas would be refused by it. */
  const noRoom: QuotaRule = {
    id: 'q0',
    name: 'none',
    match: { tools: ['log_event'] },
    counts: 'calls',
    limit: 0,
    window: 'day',
    enforce: true,
  };

  /** Step deps whose workspace keeps sessions under `rule`, the step's tool labelled `labels`. */
  function sessionDeps(
    rule: SessionRule,
    labels: typeof sendLabels | typeof readLabels,
    sessions: SessionStore,
    quotas: QuotaRule[] = [noRoom],
  ) {
    const workspaceId = `w-${randomUUID()}`;
    const access: WorkspaceAccess = {
      v: 1,
      workspaceId,
      policies: [{ ...grantAll, tools: ['*'] }],
      quotas,
      session: { ttlSeconds: 600, rules: [rule] },
    };
    const d: StepCheckDeps = {
      ...deps(quotas),
      workspaceAccess: async () => access,
      argumentGuardrails: { of: async () => [], labels: async () => labels },
      sessions,
    };
    return { d, job: { ...sessionJob, principal: { workspaceId, keyId: 'k1' } } };
  }

  it('after untrusted content, a step sending out is refused by an enforced rule before its quotas (it costs none)', async () => {
    const sessions = redisSessionStore(redis, prefix);
    const { d, job: j } = sessionDeps(refuse, sendLabels, sessions);
    await sessions.add(j.principal.workspaceId, session, {
      tool: 'read_page',
      serverId: 's0',
      invocationId: 'r0',
      at: Date.now(),
      labels: readLabels,
      countCall: false,
    });
    const checked = await checkStep(d, j, step, {});
    expect(checked).toEqual({
      refused: expect.stringMatching(/^Refused by session rule no-send: "log_event" sends data out of the company/),
    });
  });

  it('the session unreadable (Redis down): the outbound step is refused, nothing sent', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    down.on('error', () => undefined);
    const { d, job: j } = sessionDeps(refuse, sendLabels, redisSessionStore(down, prefix));
    expect(await checkStep(d, j, step, {})).toEqual({
      refused: 'the caller\'s session could not be read to decide the step\'s tool "log_event" (Redis unavailable).',
    });
    down.disconnect();
  });

  it('a step whose tool brings a label writes it when it answered; a step on a connector’s operation writes nothing', async () => {
    const sessions = redisSessionStore(redis, prefix);
    const { d, job: j } = sessionDeps(refuse, readLabels, sessions, []);
    const checked = await checkStep(d, j, step, {});
    if (!('args' in checked) || !checked.brought) throw new Error('the step should run and bring its label');
    // Nothing before its tool answered.
    expect((await sessions.read(j.principal.workspaceId, session.scopes)).labels.size).toBe(0);
    await checked.brought();
    const held = await sessions.read(j.principal.workspaceId, session.scopes);
    expect(held.labels.get('untrusted')).toMatchObject({ tool: 'log_event', serverId: 's1', source: 'declared' });
    const { serverId: _none, ...operation } = step;
    expect(await checkStep(d, j, operation, {})).toEqual({ args: {}, done: expect.any(Function) });
  });
});

describe('a workflow step called with a narrowed token (ADR 0084), in the edge’s order', () => {
  const card = '4111111111111111';
  const block: GuardrailRule = {
    id: 'g-block',
    name: 'no-cards',
    tools: ['log_event'],
    on: ['arguments'],
    detectors: [{ kind: 'pii', types: ['card'] }],
    action: 'block',
    enforce: true,
  };
  /** A job of a token with one call left, its own counter, and maybe a condition of its chain. */
  function narrowed(conditions: string[] = []) {
    const jti = `tok-${randomUUID()}`;
    const exp = Math.floor(Date.now() / 1000) + 600;
    const delegation = { tokenId: jti, servers: null, tools: null, conditions, limits: [{ jti, calls: 1 }], exp };
    return {
      j: { ...job, rules: { delegation } },
      used: async () => Number(await redis.get(`${prefix}:delegation:calls:${jti}`)),
    };
  }
  const withCalls = (d: StepCheckDeps): StepCheckDeps => ({
    ...d,
    delegationCalls: new DelegationCalls(redis, prefix),
  });

  it('gives the token’s call back when a later check refuses the step, and spends it on one that runs', async () => {
    const { j, used } = narrowed();
    const blocked = await checkStep(withCalls(deps([], [block])), j, step, { m: `paid ${card}` });
    expect(blocked).toEqual({ refused: expect.stringContaining('guardrail "no-cards" withheld') });
    expect(await used()).toBe(0);
    const noRoom: QuotaRule = {
      id: 'q0',
      name: 'none',
      match: {},
      counts: 'calls',
      limit: 0,
      window: 'day',
      enforce: true,
    };
    expect(await checkStep(withCalls(deps([noRoom])), j, step, { m: 'x' })).toEqual({
      refused: expect.stringContaining('quota "none"'),
    });
    expect(await used()).toBe(0);
    expect(await checkStep(withCalls(deps([])), j, step, { m: 'x' })).toMatchObject({ args: { m: 'x' } });
    expect(await used()).toBe(1);
    expect(await checkStep(withCalls(deps([])), j, step, { m: 'y' })).toEqual({
      refused: expect.stringContaining('has no calls left'),
    });
    expect(await used()).toBe(1);
  });

  it('judges the token’s conditions on the arguments as sent, before the guardrails redact them', async () => {
    const redact = { ...block, id: 'g-redact', name: 'redact-cards', action: 'redact' as const };
    const { j, used } = narrowed([`args.m == "paid ${card}"`]);
    const checked = await checkStep(withCalls(deps([], [redact])), j, step, { m: `paid ${card}` });
    expect(checked).toMatchObject({ args: { m: 'paid [redacted:pii:card]' } });
    expect(await used()).toBe(1);
    // A number where the condition compares a string: the condition is false, the step refused, nothing charged.
    const lying = narrowed([`args.m == "paid ${card}"`]);
    expect(await checkStep(withCalls(deps([])), lying.j, step, { m: 4111111111111111 })).toEqual({
      refused: expect.stringContaining('only when'),
    });
    expect(await lying.used()).toBe(0);
  });
});
