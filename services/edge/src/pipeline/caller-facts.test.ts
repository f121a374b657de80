import { describe, expect, it } from '@jest/globals';
import { rules, type Rule } from '@toolplane/access';
import type { Principal, QuotaRule, WorkspaceAccess } from '@toolplane/contracts';
import type { CallDelegation } from '../identity/delegated-tokens.ts';
import type { ResolvedCaller } from '../identity/resolved-caller.ts';
import { callerFactRules, callerFactsOf } from './caller-facts.ts';

// Each rule derives its own facts about the caller: the table names rules of the one list only, in its order, and
// a caller no rule has anything to say of costs no object.

const list = rules as readonly Rule[];
const edgePaths = new Set(['call', 'read', 'eventSubscribe']);

const quota = (id: string, match: QuotaRule['match']): QuotaRule => ({
  id,
  name: id,
  match,
  counts: 'calls',
  limit: 10,
  window: 'day',
  enforce: true,
});

function resolved(
  principal: Principal,
  more: Partial<Omit<ResolvedCaller, 'anonymousClient'>> = {},
): ResolvedCaller & { asked: number } {
  const access: WorkspaceAccess = { v: 1, workspaceId: principal.workspaceId, policies: [] };
  return {
    serverId: 's1',
    principal,
    identity: principal.keyId !== undefined ? { keyId: principal.keyId } : { anonymous: true },
    keyName: undefined,
    claims: undefined,
    narrowed: undefined,
    access,
    conditions: undefined,
    ...more,
    asked: 0,
    anonymousClient() {
      this.asked++;
      return 'client-1';
    },
  };
}

describe('the rules’ caller facts', () => {
  it('names rules of the one list, in its order, each run on a path of the edge, none of them portable', () => {
    const names = list.map((r) => r.name);
    expect(callerFactRules.every((name) => names.includes(name))).toBe(true);
    expect([...callerFactRules]).toEqual(names.filter((name) => (callerFactRules as readonly string[]).includes(name)));
    for (const name of callerFactRules) {
      const rule = list.find((r) => r.name === name)!;
      expect(rule.portable).toBeUndefined();
      expect(rule.paths.some((path) => edgePaths.has(path))).toBe(true);
    }
  });

  it('a caller no rule applies to gets the one shared empty set, whoever they are', () => {
    const a = callerFactsOf(resolved({ workspaceId: 'w1', keyId: 'k1' }));
    const b = callerFactsOf(resolved({ workspaceId: 'w2', keyId: 'k2' }));
    expect(a).toEqual({});
    expect(b).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('each rule derives its own: quotas matching the key, the session, the narrowed token, conditional grants', () => {
    const principal: Principal = { workspaceId: 'w1', keyId: 'k1', username: 'alice', userId: 'u1' };
    const narrowed = { token: { jti: 't1' } } as unknown as CallDelegation;
    const access: WorkspaceAccess = {
      v: 1,
      workspaceId: 'w1',
      policies: [],
      quotas: [quota('mine', { apiKeys: ['k1'] }), quota('other', { apiKeys: ['k2'] })],
      session: { ttlSeconds: 600, rules: [] },
    };
    const conditions = { logOnly: false } as unknown as ResolvedCaller['conditions'];
    const who = resolved(principal, { access, narrowed, conditions, keyName: 'ops' });
    const facts = callerFactsOf(who);
    expect(Object.keys(facts)).toEqual(['delegation', 'access', 'session', 'quota']);
    expect(facts.delegation).toBe(narrowed);
    expect(facts.access).toEqual({ rules: conditions, caller: { key_id: 'k1', key_name: 'ops', user: 'alice' } });
    expect(facts.session).toEqual({ settings: access.session, scopes: ['k:k1', 'u:u1'], countCalls: false });
    expect(facts.quota?.rules.map((q) => q.id)).toEqual(['mine']);
    expect(facts.quota?.caller).toEqual({ keyId: 'k1', person: 'alice', subject: undefined, claims: undefined });
    // A key caller's session is its key's: its client is never asked for.
    expect(who.asked).toBe(0);
  });

  it('an anonymous caller’s session is its own client’s, asked for only when the workspace keeps sessions', () => {
    const anonymous: Principal = { workspaceId: 'w1', subject: 'anonymous' };
    const without = resolved(anonymous);
    expect(callerFactsOf(without).session).toBeUndefined();
    expect(without.asked).toBe(0);
    const access: WorkspaceAccess = { v: 1, workspaceId: 'w1', policies: [], session: { ttlSeconds: 600, rules: [] } };
    const kept = resolved(anonymous, { access });
    expect(callerFactsOf(kept).session?.scopes).toEqual(['a:s1:client-1']);
    expect(kept.asked).toBe(1);
  });

  it('quotas that match other callers only: no quota facts', () => {
    const access: WorkspaceAccess = {
      v: 1,
      workspaceId: 'w1',
      policies: [],
      quotas: [quota('theirs', { apiKeys: ['k2'] })],
    };
    expect(callerFactsOf(resolved({ workspaceId: 'w1', keyId: 'k1' }, { access })).quota).toBeUndefined();
  });
});
