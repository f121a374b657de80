import { describe, expect, it } from '@jest/globals';
import {
  toolResultValue,
  type AuditEventInput,
  type Catalog,
  type ExecutionRecord,
  type GuardrailRule,
  type ToolInvokeJob,
} from '@toolplane/contracts';
import { compileGuardrails } from '@toolplane/guardrails';
import type { Logger } from '@toolplane/logger';
import type { ExecutionRecordSink, InvocationClient } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';
import { CatalogCache, type LoadedCatalog, type LoadedTool } from '../state/catalogs.ts';
import type { RuntimeStateProbe } from '../state/runtime-state.ts';
import { ShadowEventBudget } from '../governance/shadow-decisions.ts';
import { callTool } from '../calls/tool-calls.ts';
import type { ToolCall, ToolCallDeps } from '../calls/call-types.ts';

/** A card number that passes Luhn: what a model should not send to a logging API. */
const CARD = '4111 1111 1111 1111';

const rule = (action: GuardrailRule['action'], extra: Partial<GuardrailRule> = {}): GuardrailRule => ({
  id: `id-${action}`,
  name: `cards-${action}`,
  detectors: [{ kind: 'pii', types: ['card'] }],
  action,
  enforce: true,
  on: ['arguments'],
  ...extra,
});

function fakes() {
  const jobs: ToolInvokeJob[] = [];
  const records: ExecutionRecord[] = [];
  const events: AuditEventInput[] = [];
  const logs: unknown[] = [];
  const invocations = {
    edgeId: 'edge-test',
    invoke: async (job: ToolInvokeJob) => {
      jobs.push(job);
      return { v: 1 as const, invocationId: job.invocationId, ok: true as const, result: { content: [] } };
    },
  } as unknown as InvocationClient;
  const deps: ToolCallDeps = {
    invocations,
    records: { add: (r: ExecutionRecord) => records.push(r) } as unknown as ExecutionRecordSink,
    audit: { add: (e: AuditEventInput) => events.push(e) },
    shadowEvents: new ShadowEventBudget(),
    timeoutMs: 1_000,
    log: { info: (...args: unknown[]) => logs.push(args), warn: () => undefined } as unknown as Logger,
  };
  return { jobs, records, events, logs, deps };
}

/** A catalog whose `log_event` tool is guarded by `rules` (as state/catalogs.ts compiles them), in `mode`. */
function loaded(rules: GuardrailRule[], mode: 'NORMAL' | 'SMART' = 'NORMAL'): LoadedCatalog {
  const logEvent: LoadedTool = {
    def: { name: 'log_event', description: 'log', inputSchema: { type: 'object' } },
    validate: ((v: unknown) => typeof v === 'object') as unknown as LoadedTool['validate'],
    rules: { argumentGuardrails: compileGuardrails(rules, 'arguments') },
  };
  const catalog = { v: 1, serverId: 's1', workspaceId: 'w1', version: 3, name: 'logs', mode, tools: [] };
  const execute: LoadedTool = {
    def: { name: 'execute_tool', description: 'x', inputSchema: { type: 'object' } },
    validate: (() => true) as unknown as LoadedTool['validate'],
    rules: {},
  };
  return {
    catalog: catalog as unknown as Catalog,
    tools: new Map([['log_event', logEvent]]),
    meta: mode === 'SMART' ? new Map([['execute_tool', execute]]) : new Map(),
    list: [],
  };
}

const call = (l: LoadedCatalog, args: Record<string, unknown>, name = 'log_event'): ToolCall => ({
  loaded: l,
  principal: { workspaceId: 'w1', keyId: 'k1' },
  name,
  arguments: args,
  requestId: 1,
  trace: { traceparent: undefined, tracestate: undefined, protocolVersion: undefined },
  request: {},
  facts: {},
});

const args = { level: 'info', message: `payment by ${CARD} accepted` };

describe('guardrails on arguments, at the edge', () => {
  it('block: a tool error naming detector and path, nothing enqueued, a rejected record without the value', async () => {
    const f = fakes();
    const result = toolResultValue(await callTool(f.deps, call(loaded([rule('block')]), args)));
    expect(result.isError).toBe(true);
    expect(result.content).toEqual([
      {
        type: 'text',
        text: 'A guardrail withheld this call: pii:card found at $.message in its arguments; nothing was sent.',
      },
    ]);
    expect(f.jobs).toEqual([]);
    expect(f.records).toMatchObject([
      {
        outcome: 'rejected',
        errorCode: 'guardrail.blocked',
        guardrails: [
          {
            guardrail: 'cards-block',
            detector: 'pii:card',
            path: '$.message',
            action: 'block',
            on: 'arguments',
            guardrailId: 'id-block',
          },
        ],
      },
    ]);
    const everything = JSON.stringify([result, f.records, f.events, f.logs]);
    expect(everything).not.toContain('4111');
  });

  it('redact: the job carries the arguments with the match replaced; _meta and an audit event say so', async () => {
    const f = fakes();
    const result = toolResultValue(await callTool(f.deps, call(loaded([rule('redact')]), args)));
    expect(f.jobs[0]!.arguments).toEqual({ level: 'info', message: 'payment by [redacted:pii:card] accepted' });
    const finding = { guardrail: 'cards-redact', detector: 'pii:card', path: '$.message', action: 'redact' };
    expect(result._meta).toEqual({ 'toolplane/argumentGuardrails': [finding] });
    // The job carries the findings to the worker's record (`on: "arguments"`, the guardrail's id), never the value.
    expect(f.jobs[0]!.rules?.guardrails?.arguments).toEqual([
      { ...finding, on: 'arguments', guardrailId: 'id-redact' },
    ]);
    expect(f.events).toMatchObject([
      {
        action: 'guardrail.redact',
        outcome: 'success',
        resource: { type: 'guardrail', id: 'id-redact' },
        details: { on: 'arguments', findings: [{ detector: 'pii:card', path: '$.message' }], tool: 'log_event' },
      },
    ]);
    expect(JSON.stringify([result, f.records, f.events, f.logs])).not.toContain('4111');
  });

  it('flag: sent unchanged, listed in _meta; log only: sent unchanged, nothing in _meta, guardrail.would_block', async () => {
    const f = fakes();
    const flagged = toolResultValue(await callTool(f.deps, call(loaded([rule('flag')]), args)));
    expect(f.jobs[0]!.arguments).toEqual(args);
    expect(flagged._meta).toMatchObject({ 'toolplane/argumentGuardrails': [{ action: 'flag' }] });
    const shadow = toolResultValue(await callTool(f.deps, call(loaded([rule('block', { enforce: false })]), args)));
    expect(f.jobs[1]!.arguments).toBe(args);
    expect(shadow._meta).toBeUndefined();
    expect(f.jobs.map((j) => j.rules?.guardrails?.arguments.map((x) => x.action))).toEqual([['flag'], ['would_block']]);
    expect(f.events.map((e) => e.action)).toEqual(['guardrail.flag', 'guardrail.would_block']);
    // Within the edge's budget: the same guardrail, caller, tool and action once a minute.
    await callTool(f.deps, call(loaded([rule('block', { enforce: false })]), args));
    expect(f.events.length).toBe(2);
    expect(f.jobs.length).toBe(3);
  });

  it('arguments the schema refuses are refused as such first; clean arguments go as they are', async () => {
    const f = fakes();
    const l = loaded([rule('block')]);
    const invalid = toolResultValue(await callTool(f.deps, { ...call(l, args), arguments: 'x' as never }));
    expect(f.records[0]!.errorCode).toBe('tool.invalid_arguments');
    expect(invalid.isError).toBe(true);
    const clean = { level: 'info', message: 'all good, order 1234' };
    const result = toolResultValue(await callTool(f.deps, call(l, clean)));
    expect(f.jobs[0]!.arguments).toBe(clean);
    expect(f.jobs[0]!).not.toHaveProperty('rules');
    expect(result._meta).toBeUndefined();
  });

  it('a card number sent as a JSON number, or as the `data` of an image-shaped object, is found all the same', async () => {
    const f = fakes();
    const l = loaded([rule('block')]);
    const asNumber = toolResultValue(await callTool(f.deps, call(l, { level: 'info', card: 4111111111111111 })));
    expect(asNumber.content).toEqual([
      {
        type: 'text',
        text: 'A guardrail withheld this call: pii:card found at $.card in its arguments; nothing was sent.',
      },
    ]);
    const shaped = { level: 'info', attachment: { type: 'image', data: CARD, mimeType: 'image/png' } };
    const asImage = toolResultValue(await callTool(f.deps, call(l, shaped)));
    expect(asImage.isError).toBe(true);
    expect(f.jobs).toEqual([]);
    expect(f.records.map((r) => r.guardrails?.[0]?.path)).toEqual(['$.card', '$.attachment.data']);
  });

  it("SMART execute_tool: its target's arguments are scanned", async () => {
    const f = fakes();
    const l = loaded([rule('block')], 'SMART');
    const result = toolResultValue(
      await callTool(f.deps, call(l, { name: 'log_event', arguments: args }, 'execute_tool')),
    );
    expect(result.isError).toBe(true);
    expect(f.jobs).toEqual([]);
    expect(f.records[0]).toMatchObject({ tool: 'log_event', errorCode: 'guardrail.blocked' });
  });
});

describe('catalogs: which tools carry guardrails on arguments', () => {
  const catalog = (guardrails?: GuardrailRule[]) => ({
    v: 1,
    serverId: 's1',
    workspaceId: 'w1',
    version: 1,
    name: 'logs',
    tools: ['log_event', 'read_log'].map((name) => ({
      tool: { name, description: name, inputSchema: { type: 'object' } },
      plan: { kind: 'http', method: 'POST', url: 'http://127.0.0.1/x', params: [], authHeaders: {}, secrets: {} },
    })),
    ...(guardrails ? { guardrails } : {}),
  });
  const load = async (c: object) => {
    const redis = { get: async () => JSON.stringify(c) } as unknown as RedisClient;
    const cache = new CatalogCache(redis, 'p', { max: 10, negativeTtlMs: 1_000 }, {
      assertComplete: async () => {},
    } as unknown as RuntimeStateProbe);
    const l = (await cache.get('s1'))!;
    return ['log_event', 'read_log'].map((n) => l.tools.get(n)!.rules.argumentGuardrails?.map((g) => g.rule.name));
  };

  it('none without a guardrail on arguments; those naming a tool on that tool only; the server-wide ones on all', async () => {
    expect(await load(catalog())).toEqual([undefined, undefined]);
    expect(await load(catalog([rule('block', { on: undefined })]))).toEqual([undefined, undefined]);
    const both = rule('redact', { on: ['results', 'arguments'] });
    expect(await load(catalog([rule('block', { tools: ['log_event'] }), both]))).toEqual([
      ['cards-block', 'cards-redact'],
      ['cards-redact'],
    ]);
  });
});
