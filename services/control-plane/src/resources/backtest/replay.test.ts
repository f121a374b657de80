import { describe, expect, it } from '@jest/globals';
import type { CatalogTool, SessionRule, WorkspaceAccess } from '@toolplane/contracts';
import { QuotaReplay } from '@toolplane/queue';
import { judgeCall, type Judge } from './judge.ts';
import { PAGE, replay, type RecordSource, type ReplayedRecord } from './replay.ts';
import { SessionReplay } from './session.ts';
import type { Rules } from './rules.ts';

const entry = {
  tool: { name: 'read', inputSchema: { type: 'object' } },
  plan: { kind: 'http', params: [] },
} as unknown as CatalogTool;
const access: WorkspaceAccess = { v: 1, workspaceId: 'w', policies: [] };
const rules: Rules = { access, guardrails: [], confirmTools: new Map(), approvalTools: new Map() };
const limited: Rules = {
  access: {
    ...access,
    quotas: [{ id: 'q', name: 'one a day', match: {}, counts: 'calls', limit: 1, window: 'day', enforce: true }],
  },
  guardrails: [],
  confirmTools: new Map(),
  approvalTools: new Map(),
};

/** A record `i` seconds into the day: a call of `entry` by key `k` (or as `call` says). */
function record(i: number, call: Partial<NonNullable<ReplayedRecord['call']>> = {}): ReplayedRecord {
  const at = new Date(Date.UTC(2026, 10, 27, 0, 0, i));
  const id = `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`;
  const tool = call.entry ?? entry;
  const values = { byKey: 'k', byPerson: '', byTool: tool.tool.name, byDay: '2026-11-27' };
  const judged = {
    id,
    serverId: 's',
    serverName: 'srv',
    at: at.getTime(),
    entry: tool,
    tool: { def: tool.tool },
    identity: { keyId: 'k' },
    caller: { key_id: 'k' },
    scopes: ['k:k'],
    args: {},
    ...call,
  };
  return { id, at, values, call: judged };
}

/** A source of these records, a page at a time. */
function listed(all: ReplayedRecord[]): RecordSource {
  return {
    page(after, limit) {
      const start = after ? all.findIndex((r) => r.id === after.id) + 1 : 0;
      return Promise.resolve(all.slice(start, start + limit));
    },
  };
}

/** A source of `n` records that counts its pages and can abort `controller` after the first. */
function source(n: number, controller?: AbortController) {
  const all = Array.from({ length: n }, (_, i) => record(i));
  const seen = { pages: 0 };
  const s: RecordSource = {
    page(after, limit) {
      seen.pages++;
      const start = after ? all.findIndex((r) => r.id === after.id) + 1 : 0;
      if (seen.pages === 1) controller?.abort();
      return Promise.resolve(all.slice(start, start + limit));
    },
  };
  return { s, seen };
}

const opts = { maxCalls: 1000 };

describe('replay', () => {
  it('reads in pages after the last record, and refuses past a quota in time order', async () => {
    const { s, seen } = source(PAGE + 5);
    const o = await replay(s, { current: rules, proposed: limited }, { maxCalls: 10 * PAGE });
    expect(seen.pages).toBe(2);
    expect(o).toMatchObject({ replayed: PAGE + 5, truncated: false, cancelled: false });
    expect(o.changes.newlyRefused.calls).toBe(PAGE + 4);
    expect(o.changes.newlyRefused.examples[0]).toBe(record(1).id);
  });

  it('stops at the call limit and says so', async () => {
    const { s } = source(50);
    const o = await replay(s, { current: rules, proposed: rules }, { maxCalls: 20 });
    expect(o).toMatchObject({ replayed: 20, truncated: true });
  });

  it('stops reading when the request is aborted (the client went away)', async () => {
    const controller = new AbortController();
    const { s, seen } = source(3 * PAGE, controller);
    const o = await replay(s, { current: rules, proposed: rules }, { maxCalls: 10 * PAGE, signal: controller.signal });
    expect(o.cancelled).toBe(true);
    expect(seen.pages).toBe(1);
    expect(o.replayed).toBe(PAGE);
  });

  it('reports the calls of a tool newly confirmed on their server, and nothing else of them', async () => {
    const other = record(2, { serverId: 'other' });
    const all = [record(1), other, record(3)];
    const confirmed: Rules = { ...rules, confirmTools: new Map([['s', new Set(['read'])]]) };
    const o = await replay(listed(all), { current: rules, proposed: confirmed }, opts);
    expect([...o.changes.newlyAskedToConfirm.examples]).toEqual([all[0]!.id, all[2]!.id]);
    expect(o.changes.newlyRefused.calls + o.changes.newlyHeld.calls + o.changes.newlyAllowed.calls).toBe(0);
    const back = await replay(listed(all), { current: confirmed, proposed: confirmed }, opts);
    expect(back.changes.newlyAskedToConfirm.calls).toBe(0);
  });

  it('holds the calls of a tool its server newly has approved, under the server’s name', async () => {
    const all = [record(1), record(2, { serverId: 'other' })];
    const approved: Rules = { ...rules, approvalTools: new Map([['s', new Set(['read'])]]) };
    const o = await replay(listed(all), { current: rules, proposed: approved }, opts);
    expect([...o.changes.newlyHeld.examples]).toEqual([all[0]!.id]);
    expect(o.reasons.toJSON()).toEqual([{ change: 'newlyHeld', code: 'approval.required', rule: 'srv', calls: 1 }]);
    const back = await replay(listed(all), { current: approved, proposed: approved }, opts);
    expect(back.changes.newlyHeld.calls).toBe(0);
  });

  it('judges a server’s portable rules on the arguments recorded (a spending limit), not calls that kept none', async () => {
    const pay = {
      tool: { name: 'pay', inputSchema: { type: 'object', properties: { amount: { type: 'number' } } } },
      plan: { kind: 'http', params: [] },
    } as unknown as CatalogTool;
    const over = record(1, { entry: pay, tool: { def: pay.tool }, args: { amount: 500 } });
    const within = record(2, { entry: pay, tool: { def: pay.tool }, args: { amount: 5 } });
    const unkept = record(3, { entry: pay, tool: { def: pay.tool }, args: undefined });
    const limit = { 'spending-limit': { argument: 'amount', limit: 100 } };
    const limited: Rules = { ...rules, ruleSettings: new Map([['s', limit]]) };
    const judge = (r: Rules): Judge => ({
      rules: r,
      quotas: new QuotaReplay(),
      guardrails: new Map(),
      sessions: new SessionReplay(undefined),
    });
    expect(judgeCall(judge(limited), over.call!)).toMatchObject({
      outcome: 'refused',
      rule: 'spending-limit',
      code: 'spending_limit.exceeded',
      readArguments: true,
      byArguments: true,
    });
    expect(judgeCall(judge(limited), within.call!)).toMatchObject({ outcome: 'allowed', readArguments: true });
    expect(judgeCall(judge(limited), unkept.call!)).toMatchObject({ outcome: 'allowed', readArguments: false });
    expect(judgeCall(judge(rules), over.call!)).toMatchObject({ outcome: 'allowed', readArguments: false });
    // A refusal decided by an argument's value names no call (ADR 0091): the replay counts it apart.
    const o = await replay(listed([over, within, unkept]), { current: rules, proposed: limited }, opts);
    expect([...o.changes.newlyRefused.examples]).toEqual([]);
    expect(o.diverged).toBe(true);
  });

  describe('session rules (the labels records brought, in time order)', () => {
    const send = {
      tool: { name: 'send', inputSchema: { type: 'object' } },
      plan: { kind: 'http', params: [] },
      labels: [{ label: 'public_write', source: 'declared' }],
    } as unknown as CatalogTool;
    const untrusted = [{ label: 'untrusted' as const, source: 'declared' as const }];
    const rule = (enforce: boolean): SessionRule => ({
      id: 'nothing-out',
      name: 'nothing out',
      after: ['untrusted'],
      toolLabels: ['public_write'],
      action: 'refuse',
      enforce,
    });
    // People may call every tool (a person's call needs a policy naming them).
    const people = ['alice', 'bob'].map((value) => ({ type: 'external_user' as const, value }));
    const policies = [{ id: 'p', name: 'people', principals: people, servers: ['*'], tools: ['*'] }];
    const withSession = (enforce: boolean, ttlSeconds = 3600): Rules => ({
      access: { ...access, policies, session: { ttlSeconds, rules: [rule(enforce)] } },
      guardrails: [],
      confirmTools: new Map(),
      approvalTools: new Map(),
    });
    const asPerson = (person: string, keyId: string) => ({
      identity: { keyId, username: person },
      caller: { key_id: keyId, user: person },
      scopes: [`k:${keyId}`, `u:${person}`],
    });
    const ids = (o: Awaited<ReturnType<typeof replay>>, k: 'newlyRefused' | 'newlyAllowed') =>
      [...o.changes[k].examples].sort();

    it('refuses exactly the sends after a read that brought untrusted content, in that session', async () => {
      const all = [
        record(1, { entry: send }),
        record(2, { labels: untrusted }),
        record(3, { entry: send }),
        record(4, { entry: send, identity: { keyId: 'other' }, caller: { key_id: 'other' }, scopes: ['k:other'] }),
        record(5, { entry: send }),
      ];
      const o = await replay(listed(all), { current: withSession(false), proposed: withSession(true) }, opts);
      expect(ids(o, 'newlyRefused')).toEqual([all[2]!.id, all[4]!.id]);
      expect(o.reasons.toJSON()).toEqual([
        { change: 'newlyRefused', code: 'session.refused', rule: 'nothing out', calls: 2 },
      ]);
      // The other way round: the log-only rule lets through what the enforced one refused (a refusal recorded by it).
      const back = await replay(listed(all), { current: withSession(true), proposed: withSession(false) }, opts);
      expect(ids(back, 'newlyAllowed')).toEqual([all[2]!.id, all[4]!.id]);
    });

    it('forgets a session ttlSeconds after its last write', async () => {
      // A read at 0 s, another at 50 s (renewing the 60 s lifetime), sends at 100 s (kept) and 200 s (forgotten).
      const all = [record(0, { labels: untrusted }), record(50, { labels: untrusted })];
      all.push(record(100, { entry: send }), record(200, { entry: send }));
      const o = await replay(listed(all), { current: rules, proposed: withSession(true, 60) }, opts);
      expect(ids(o, 'newlyRefused')).toEqual([all[2]!.id]);
    });

    it("reaches the person's session through another key", async () => {
      // Alice reads through key k1, then sends through k2: her person's session holds the label; Bob's does not.
      const all = [
        record(1, { labels: untrusted, ...asPerson('alice', 'k1') }),
        record(2, { entry: send, ...asPerson('alice', 'k2') }),
        record(3, { entry: send, ...asPerson('bob', 'k2') }),
      ];
      const o = await replay(listed(all), { current: withSession(false), proposed: withSession(true) }, opts);
      expect(ids(o, 'newlyRefused')).toEqual([all[1]!.id]);
    });
  });
});
