import { describe, expect, it } from '@jest/globals';
import {
  toolResultValue,
  type AuditEventInput,
  type Catalog,
  type CatalogTool,
  type ToolInvokeJob,
} from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { ExecutionRecordSink, InvocationClient } from '@toolplane/queue';
import type { ToolCall, ToolCallDeps } from '../calls/call-types.ts';
import type { LoadedCatalog, LoadedTool } from '../state/catalogs.ts';
import { callStages } from './order.ts';
import { refuse } from './refusal.ts';
import { runCall } from './run.ts';
import type { Ending, Stage } from './stage.ts';
import { compileToolFacts, toolFactCompilers, type ToolFactCompiler, type ToolFactsOf } from './tool-facts.ts';

/** A tool's plan in an order other than the list's (as `planOf` works it out for the real one). */
const planFor = (tool: LoadedTool, stages: readonly Stage[]) => stages.filter((stage) => stage.appliesTo(tool));

/**
 * Adding a call capability: a stage of its own (this file stands for its folder) and one line in the list of rules
 * (`rules.ts` in @toolplane/access, which `order.ts` builds the order from; here a copy of the order with the line
 * added). Nothing else changes: the stage refuses (nothing is
 * enqueued, a rejected record), lets through in log-only mode (an audit event saying what it would have done), settles
 * when the call ends, and a tool it does not apply to never meets it.
 */

/** The example capability: a spending limit on a tool's `amount` argument, enforced or log-only. */
function spendingLimit(limit: number, enforce: boolean) {
  const endings: Ending[] = [];
  const stage: Stage = {
    name: 'spending-limit',
    appliesTo: (tool) => 'amount' in ((tool.def.inputSchema.properties as object | undefined) ?? {}),
    run(s) {
      const amount = s.call.arguments.amount;
      if (typeof amount !== 'number' || amount <= limit) return { settle: { ended: (end) => void endings.push(end) } };
      const message = `amount ${amount} is over the limit of ${limit}: nothing was sent.`;
      if (enforce) return refuse(s, { errorCode: 'spending.over_limit', message });
      s.deps.audit?.add({
        type: 'spending.would_refuse',
        details: { tool: s.tool.def.name },
      } as unknown as AuditEventInput);
      return undefined;
    },
  };
  // The one line a new capability adds to the order: here after access, before anything that keeps something.
  const at = callStages.findIndex((x) => x.name === 'access') + 1;
  return { stages: [...callStages.slice(0, at), stage, ...callStages.slice(at)], endings };
}

function fakes() {
  const jobs: ToolInvokeJob[] = [];
  const records: { errorCode?: string; outcome: string }[] = [];
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

const tool = (name: string, properties: Record<string, unknown>): LoadedTool => ({
  def: { name, description: name, inputSchema: { type: 'object', properties } },
  validate: (() => true) as unknown as LoadedTool['validate'],
  rules: {},
});
const pay = tool('pay', { amount: { type: 'number' } });
const read = tool('read', { id: { type: 'string' } });

const loaded = {
  catalog: { v: 1, serverId: 's1', workspaceId: 'w1', version: 1, name: 'srv', mode: 'NORMAL', tools: [] } as unknown,
  tools: new Map([
    ['pay', pay],
    ['read', read],
  ]),
  meta: new Map(),
  list: [],
} as unknown as LoadedCatalog;

const call = (name: string, args: Record<string, unknown>): ToolCall => ({
  loaded,
  principal: { workspaceId: 'w1', subject: 'alice' },
  name,
  arguments: args,
  requestId: 1,
  trace: { traceparent: undefined, tracestate: undefined, protocolVersion: undefined },
  request: {},
  facts: {},
});

describe('an example stage added to the pipeline', () => {
  it('enforced: refuses over the limit (nothing enqueued, a rejected record); lets the rest through and settles', async () => {
    const { stages, endings } = spendingLimit(100, true);
    const f = fakes();
    const refused = toolResultValue(
      await runCall(f.deps, call('pay', { amount: 250 }), pay, { stages: planFor(pay, stages) }),
    );
    expect(refused.isError).toBe(true);
    expect(refused.content).toEqual([{ type: 'text', text: 'amount 250 is over the limit of 100: nothing was sent.' }]);
    expect(f.jobs).toHaveLength(0);
    expect(f.records).toEqual([expect.objectContaining({ outcome: 'rejected', errorCode: 'spending.over_limit' })]);
    const ran = toolResultValue(
      await runCall(f.deps, call('pay', { amount: 40 }), pay, { stages: planFor(pay, stages) }),
    );
    expect(ran.isError).toBeUndefined();
    expect(f.jobs).toHaveLength(1);
    expect(endings).toEqual([{ added: true, outcome: { content: [] } }]);
  });

  it('log-only: the call goes on, and the audit trail says what the stage would have done', async () => {
    const { stages } = spendingLimit(100, false);
    const f = fakes();
    await runCall(f.deps, call('pay', { amount: 250 }), pay, { stages: planFor(pay, stages) });
    expect(f.jobs).toHaveLength(1);
    expect(f.audit).toEqual([{ type: 'spending.would_refuse', details: { tool: 'pay' } }]);
  });

  it('a tool the stage does not apply to never meets it; an earlier refusal stops the call before it', async () => {
    const { stages } = spendingLimit(0, true);
    const f = fakes();
    await runCall(f.deps, call('read', { id: 'x', amount: 5 }), read, { stages: planFor(read, stages) });
    expect(f.jobs).toHaveLength(1);
    const strict = { ...pay, validate: Object.assign(() => false, { errors: [] }) } as unknown as LoadedTool;
    const out = toolResultValue(
      await runCall(f.deps, call('pay', { amount: 5 }), strict, { stages: planFor(strict, stages) }),
    );
    expect(out.isError).toBe(true);
    expect(f.records).toEqual([expect.objectContaining({ errorCode: 'tool.invalid_arguments' })]);
  });
});

/**
 * A rule with settings per tool (not portable: its stage is its own): the ceiling a server's catalog version sets on
 * each tool's `amount`. Its facts are compiled once per catalog version by its own compiler, its one line in the table
 * of `tool-facts.ts` (here the table spread with it: `ToolFactsOf` types the line); nothing in the catalog cache
 * (`state/catalogs.ts`), the call's type (`call-types.ts`) or the authenticator changes.
 */
const ceilings: ToolFactCompiler<number> = (catalog) => {
  const byTool = catalog.ruleSettings?.['ceiling'] as Readonly<Record<string, number>> | undefined;
  return byTool ? (entry) => byTool[entry.tool.name] : undefined;
};
const withCeilings = { ...toolFactCompilers, ceiling: ceilings };
type WithCeilings = ToolFactsOf<typeof withCeilings>;
const ceilingOf = (tool: LoadedTool) => (tool.rules as WithCeilings).ceiling;

const ceilingStage: Stage = {
  name: 'ceiling',
  appliesTo: (tool) => ceilingOf(tool) !== undefined,
  run(s) {
    const ceiling = ceilingOf(s.tool)!;
    const amount = s.call.arguments.amount;
    if (typeof amount === 'number' && amount <= ceiling) return undefined;
    return refuse(s, { errorCode: 'ceiling.exceeded', message: `amount is over this tool's ceiling of ${ceiling}.` });
  },
};

/** A catalog version's tools loaded with the facts of the table with the ceiling's line. */
function loadedWith(ruleSettings: Record<string, unknown> | undefined): Map<string, LoadedTool> {
  const entry = (name: string): CatalogTool => ({
    tool: { name, description: name, inputSchema: { type: 'object', properties: { amount: { type: 'number' } } } },
    plan: { kind: 'http', method: 'POST', path: `/${name}`, secrets: {} } as unknown as CatalogTool['plan'],
  });
  const catalog = { ...(loaded.catalog as Catalog), tools: [entry('pay'), entry('refund')], ruleSettings };
  const factsOf = compileToolFacts(catalog, withCeilings);
  const validate = (() => true) as unknown as LoadedTool['validate'];
  return new Map(catalog.tools.map((t) => [t.tool.name, { def: t.tool, validate, rules: factsOf(t) }]));
}

describe('a rule with settings per tool', () => {
  const at = callStages.findIndex((x) => x.name === 'access') + 1;
  const stages = [...callStages.slice(0, at), ceilingStage, ...callStages.slice(at)];

  it('compiles each tool’s setting from the catalog version: a tool without one never meets the stage', async () => {
    const tools = loadedWith({ ceiling: { pay: 100 } });
    const pay = tools.get('pay')!;
    const refund = tools.get('refund')!;
    expect(ceilingOf(pay)).toBe(100);
    expect(ceilingOf(refund)).toBeUndefined();
    expect(planFor(pay, stages)).toContain(ceilingStage);
    expect(planFor(refund, stages)).not.toContain(ceilingStage);
    const f = fakes();
    const refused = toolResultValue(
      await runCall(f.deps, call('pay', { amount: 250 }), pay, { stages: planFor(pay, stages) }),
    );
    expect(refused.content).toEqual([{ type: 'text', text: "amount is over this tool's ceiling of 100." }]);
    expect(f.jobs).toHaveLength(0);
    expect(f.records).toEqual([expect.objectContaining({ outcome: 'rejected', errorCode: 'ceiling.exceeded' })]);
    await runCall(f.deps, call('pay', { amount: 40 }), pay, { stages: planFor(pay, stages) });
    await runCall(f.deps, call('refund', { amount: 250 }), refund, { stages: planFor(refund, stages) });
    expect(f.jobs.map((j) => j.tool)).toEqual(['pay', 'refund']);
  });

  it('a catalog version that sets no ceiling compiles none: its tools’ facts are the other rules’ only', () => {
    const tools = loadedWith(undefined);
    for (const tool of tools.values()) expect(tool.rules).not.toHaveProperty('ceiling');
    expect(ceilings({ ...(loaded.catalog as Catalog), tools: [] })).toBeUndefined();
    expect(compileToolFacts(loaded.catalog as Catalog, { ceiling: ceilings })({} as CatalogTool)).toEqual({});
  });
});
