import { afterAll, describe, expect, it } from '@jest/globals';
import type { AccessPolicyRule, CatalogTool, WorkspaceAccess } from '@toolplane/contracts';
import { reachability, stopSolver } from './index.ts';

const tool = {
  tool: {
    name: 'refund',
    inputSchema: {
      type: 'object',
      properties: {
        amount: { type: 'number', minimum: 0 },
        reason: { type: 'string', pattern: '^[a-z]+$' },
        tags: { type: 'array', items: { type: 'string' } },
        urgent: { type: 'boolean' },
      },
    },
  },
  plan: { kind: 'http', method: 'POST', url: 'http://127.0.0.1:1/', params: [], authHeaders: {}, secrets: {} },
} as unknown as CatalogTool;

const server = { serverId: 's1', name: 'billing' };

function access(...conditions: string[]): WorkspaceAccess {
  const policies: AccessPolicyRule[] = conditions.map((condition, i) => ({
    id: `p${i}`,
    principals: [{ type: 'api_key', value: 'k1' }],
    servers: ['s1'],
    tools: ['refund'],
    condition,
  }));
  return { v: 1, workspaceId: 'w', policies };
}

type Call = { witness: { args: Record<string, unknown> } };

async function alone(...conditions: string[]) {
  // A check's bound far above any answer's time: the answers never depend on the machine's load.
  const answer = await reachability({
    access: access(...conditions),
    server,
    tool,
    keyNames: { k1: 'support-1' },
    checkTimeoutMs: 600_000,
  });
  return answer.principals[0]!.withoutPerson;
}

describe('reachability', () => {
  afterAll(() => stopSolver());

  it('a witness meets the condition and the schema', async () => {
    const v = await alone('args.amount > 100 && args.amount < 101 && caller.key_name.startsWith("support")');
    expect(v.answer).toBe('yes');
    const amount = (v as Call).witness.args.amount as number;
    expect(amount > 100 && amount < 101).toBe(true);
  });

  it('no call meets a contradiction, nor a key name it does not have: unsat', async () => {
    expect(await alone('args.amount > 5 && args.amount < 3')).toEqual({ answer: 'no', proof: 'unsat' });
    expect(await alone('caller.key_name == "ops"')).toEqual({ answer: 'no', proof: 'unsat' });
    expect(await alone('args.amount < 0')).toEqual({ answer: 'no', proof: 'unsat' });
  });

  it('CEL errors as the edge evaluates them: a missing argument is decided by the other side of ||', async () => {
    const v = await alone('(args.amount > 5 || args.urgent) && !has(args.amount)');
    expect(v).toMatchObject({ answer: 'yes', witness: { args: { urgent: true } } });
    expect(await alone('!(args.amount > 5) && !has(args.amount)')).toEqual({ answer: 'no', proof: 'unsat' });
  });

  it('lists: membership and size', async () => {
    const v = await alone('"vip" in args.tags && size(args.tags) == 3 && !("x" in args.tags)');
    const tags = (v as Call).witness.args.tags as string[];
    expect([tags.length, tags.includes('vip'), tags.includes('x')]).toEqual([3, true, false]);
  });

  it('lists: any number of values searched for, each distinct one taking an element', async () => {
    const wanted = Array.from({ length: 10 }, (_, i) => `t${i}`);
    const v = await alone(wanted.map((t) => `"${t}" in args.tags`).join(' && '));
    const tags = (v as Call).witness.args.tags as string[];
    expect(wanted.filter((t) => !tags.includes(t))).toEqual([]);
    expect(await alone('size(args.tags) == 1 && "a" in args.tags && "b" in args.tags')).toEqual({
      answer: 'no',
      proof: 'unsat',
    });
    const filled = await alone('size(args.tags) == 3 && "a" in args.tags && !("b" in args.tags)');
    expect((filled as Call).witness.args.tags).toEqual(['a', expect.not.stringMatching(/^[ab]$/), expect.any(String)]);
  });

  it('outside the subset: undecided, saying why', async () => {
    expect(await alone('args.urgent && caller.claims.tier == "gold"')).toEqual({
      answer: 'undecided',
      why: 'caller.claims is outside what the analysis translates',
    });
    expect(await alone('args.tags.exists(t, t == "vip")')).toMatchObject({ answer: 'undecided' });
    expect(await alone('args.reason == "late"')).toEqual({
      answer: 'undecided',
      why: 'the schema of argument "reason" uses "pattern"',
    });
  });
});
