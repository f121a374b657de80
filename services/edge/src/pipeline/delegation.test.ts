import { describe, expect, it } from '@jest/globals';
import {
  toolResultValue,
  type AuditEventInput,
  type DelegatedToken,
  type TaskGrant,
  type ToolInvokeJob,
} from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { ExecutionRecordSink, InvocationClient } from '@toolplane/queue';
import type { ToolCall, ToolCallDeps } from '../calls/call-types.ts';
import type { LoadedCatalog, LoadedTool } from '../state/catalogs.ts';
import type { CallDelegation } from '../identity/delegated-tokens.ts';
import { delegationStage } from './delegation.ts';
import { refuse } from './refusal.ts';
import { runCall } from './run.ts';
import type { Stage } from './stage.ts';

// The delegation stage (ADR 0084) with fakes of the edge's own interfaces: what it refuses (a tool outside the token,
// a false condition of its chain, its calls spent), each with a record and an audit event naming the chain, and its
// charge given back when a later stage refuses the call.

const token = (extra: Partial<DelegatedToken> = {}): DelegatedToken => ({
  v: 1,
  jti: 't2',
  workspaceId: 'w1',
  sub: 'api_key:k1',
  parent: { kind: 'key', keyId: 'k1', keyHash: 'h' },
  chain: ['t1', 't2'],
  act: { sub: 'sub-agent', act: { sub: 'agent' } },
  iat: 0,
  exp: 4_000_000_000,
  servers: null,
  tools: ['pay'],
  conditions: ['args.amount <= 100'],
  limits: [{ jti: 't1', calls: 1 }],
  ...extra,
});

/** A narrowed token's call rights, its charges counted here. */
function delegation(t: DelegatedToken, room = true) {
  const counts = { charged: 0, refunded: 0, beyondGrants: 0, refundedBeyondGrants: 0 };
  /** Counts one charge or refund under `name` and answers `answer`. */
  const counted =
    <T>(name: keyof typeof counts, answer: T) =>
    () => {
      counts[name]++;
      return Promise.resolve(answer);
    };
  const d: CallDelegation = {
    token: t,
    actors: ['api_key:k1', 'agent', 'sub-agent'],
    charge: counted('charged', room),
    refund: counted('refunded', undefined),
    spent: () => Promise.resolve(!room),
    chargeBeyondGrants: counted('beyondGrants', true),
    refundBeyondGrants: counted('refundedBeyondGrants', undefined),
  };
  return { d, counts };
}

function fakes() {
  const jobs: ToolInvokeJob[] = [];
  const records: { errorCode?: string; outcome: string; caller: unknown }[] = [];
  const audit: AuditEventInput[] = [];
  const invocations = {
    edgeId: 'edge-test',
    invoke: async (job: ToolInvokeJob, _signal: unknown, onQueued?: (err?: unknown) => void) => {
      jobs.push(job);
      onQueued?.();
      return { v: 1 as const, invocationId: job.invocationId, ok: true as const, result: { content: [] } };
    },
  } as unknown as InvocationClient;
  const deps: ToolCallDeps = {
    invocations,
    records: { add: (r: (typeof records)[number]) => void records.push(r) } as unknown as ExecutionRecordSink,
    audit: { add: (e) => void audit.push(e) },
    timeoutMs: 1_000,
    log: { warn: () => undefined, info: () => undefined } as unknown as Logger,
  };
  return { jobs, records, audit, deps };
}

const tool = (name: string): LoadedTool => ({
  def: { name, description: name, inputSchema: { type: 'object', properties: { amount: { type: 'number' } } } },
  validate: (() => true) as unknown as LoadedTool['validate'],
  rules: {},
});
const pay = tool('pay');
const read = tool('read');
const loaded = {
  catalog: { v: 1, serverId: 's1', workspaceId: 'w1', version: 1, name: 'srv', mode: 'NORMAL', tools: [] } as unknown,
  tools: new Map([
    ['pay', pay],
    ['read', read],
  ]),
  meta: new Map(),
  list: [],
} as unknown as LoadedCatalog;

const call = (name: string, args: Record<string, unknown>, d: CallDelegation): ToolCall => ({
  loaded,
  principal: {
    workspaceId: 'w1',
    keyId: 'k1',
    delegation: { tokenId: d.token.jti, actors: [...d.actors] },
  },
  name,
  arguments: args,
  requestId: 1,
  trace: { traceparent: undefined, tracestate: undefined, protocolVersion: undefined },
  request: {},
  stepCaller: () => ({ identity: { keyId: 'k1' }, condition: { key_id: 'k1' } }),
  facts: { delegation: d },
});

/** A later stage that refuses every call (as a quota without room would). */
const refuseLater: Stage = {
  name: 'later',
  appliesTo: () => true,
  run: (s) => refuse(s, { errorCode: 'later.refused', message: 'refused later' }),
};

const text = (r: unknown) => (toolResultValue(r as never).content as unknown as { text: string }[])[0]!.text;

describe('the delegation stage', () => {
  it('refuses a tool outside the token and a false condition, naming the chain; neither charges', async () => {
    const f = fakes();
    const { d, counts } = delegation(token());
    const stages = [delegationStage];
    expect(text(await runCall(f.deps, call('read', { amount: 1 }, d), read, { stages }))).toBe(
      'The narrowed token t2 may not call tool "read".',
    );
    expect(text(await runCall(f.deps, call('pay', { amount: 250 }, d), pay, { stages }))).toBe(
      'The narrowed token t2 allows this call only when args.amount <= 100 (false for these arguments).',
    );
    expect(f.jobs).toHaveLength(0);
    expect(counts).toMatchObject({ charged: 0, refunded: 0 });
    expect(f.records.map((r) => r.errorCode)).toEqual(['delegation.tool', 'delegation.condition']);
    expect(f.records[0]!.caller).toEqual({
      keyId: 'k1',
      delegation: { tokenId: 't2', actors: ['api_key:k1', 'agent', 'sub-agent'] },
    });
    expect(f.audit.map((e) => [e.action, e.details])).toEqual([
      [
        'tool.call_refused',
        {
          refusedBy: 'delegation',
          reason: 'tool',
          server: 'srv',
          tool: 'read',
          delegation: { tokenId: 't2', actors: ['api_key:k1', 'agent', 'sub-agent'] },
        },
      ],
      ['tool.call_refused', expect.objectContaining({ reason: 'condition', tool: 'pay' })],
    ]);
  });

  it('charges a call that passes; with no room left refuses it; gives the charge back when a later stage refuses', async () => {
    const f = fakes();
    const ok = delegation(token());
    expect(
      toolResultValue(await runCall(f.deps, call('pay', { amount: 5 }, ok.d), pay, { stages: [delegationStage] }))
        .isError,
    ).toBeUndefined();
    expect(f.jobs).toHaveLength(1);
    expect(ok.counts).toMatchObject({ charged: 1, refunded: 0 });

    const spent = delegation(token(), false);
    const out = await runCall(f.deps, call('pay', { amount: 5 }, spent.d), pay, { stages: [delegationStage] });
    expect(text(out)).toBe('The narrowed token t2 has no calls left.');
    expect(f.jobs).toHaveLength(1);

    const later = delegation(token());
    await runCall(f.deps, call('pay', { amount: 5 }, later.d), pay, { stages: [delegationStage, refuseLater] });
    expect(later.counts).toMatchObject({ charged: 1, refunded: 1 });
    expect(f.jobs).toHaveLength(1);
  });

  it('holds a call past its task grant’s budget for the grant’s person when the grant holds, else refuses it', async () => {
    const grant: TaskGrant = {
      id: 'g1',
      purpose: 'Pay one invoice',
      person: 'ann',
      tools: ['pay'],
      bounds: [],
      calls: 1,
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      offGrant: 'hold',
      mode: 'enforced',
    };
    const limits = [
      { jti: 't1', calls: 5 },
      { jti: 'grant:g1', calls: 1 },
    ];
    // The approval stage's part: what it would ask for.
    const asks: Stage = {
      name: 'approval',
      appliesTo: () => true,
      run: (s) => refuse(s, { errorCode: 'held', message: JSON.stringify(s.policyApproval?.taskGrant ?? null) }),
    };
    const stages = [delegationStage, asks];
    for (const [offGrant, expected] of [
      ['hold', '{"id":"g1","purpose":"Pay one invoice","violated":"calls"}'],
      [
        'refuse',
        'The narrowed token t2 has no calls left (the budget of task grant g1, or a limit of its chain, is spent).',
      ],
    ] as const) {
      const f = fakes();
      f.deps.taskGrants = () => Promise.resolve([{ ...grant, offGrant }]);
      const spent = delegation(token({ grant: 'g1', limits }), false);
      expect(text(await runCall(f.deps, call('pay', { amount: 5 }, spent.d), pay, { stages }))).toBe(expected);
      expect(f.jobs).toHaveLength(0);
      // Held: the token's own limits are charged, and given back as the call was not queued.
      const held = offGrant === 'hold' ? 1 : 0;
      expect(spent.counts).toMatchObject({ beyondGrants: held, refundedBeyondGrants: held });
    }
  });

  it('a caller without a narrowed token passes untouched', async () => {
    const f = fakes();
    const { d } = delegation(token());
    const plain = { ...call('read', {}, d), facts: {} };
    await runCall(f.deps, plain, read, { stages: [delegationStage] });
    expect(f.jobs).toHaveLength(1);
    expect(f.audit).toEqual([]);
  });
});
