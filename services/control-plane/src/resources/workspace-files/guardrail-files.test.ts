import { describe, expect, it } from '@jest/globals';
import { GuardrailSpec } from '../guardrails/workspace-file.ts';
import type { DesiredResource, LiveResource } from './kind.ts';
import type { LiveState } from './live.ts';
import { planChanges, type PlanOptions } from './plan.ts';
import { stepOf } from './steps.ts';

const opts: PlanOptions = { prune: false, provided: new Set(), mayGrant: () => true };

const file = (name: string) => `guardrails/${name}.yaml`;

function desired(spec: Record<string, unknown>, kind: DesiredResource['kind'] = 'guardrail'): DesiredResource {
  const parsed = GuardrailSpec.parse(spec) as Record<string, unknown>;
  return { kind, name: String(parsed.name), file: file(String(parsed.name)), spec: parsed };
}

const live = (resources: LiveResource[]): LiveState => ({ resources, ambiguous: [] });
const server = (name: string, id: string): LiveResource => ({ kind: 'server', name, id, spec: { name } });

describe('a guardrail file', () => {
  it('writes out every optional field as the API’s default, the server by name', () => {
    expect(
      GuardrailSpec.parse({ name: 'cards', detectors: [{ kind: 'pii', types: ['card'] }], action: 'redact' }),
    ).toEqual({
      name: 'cards',
      description: null,
      server: null,
      tools: [],
      detectors: [{ kind: 'pii', types: ['card'] }],
      action: 'redact',
      on: ['results'],
      enforce: true,
      maxBytes: null,
    });
  });

  it('lists a pattern RE2 refuses, tools without a server, a serverId and an unknown action at their paths', () => {
    const result = GuardrailSpec.safeParse({
      name: 'bad',
      serverId: 'c0ffee',
      tools: ['search_tickets'],
      detectors: [{ kind: 'custom', patterns: ['ok-[0-9]+', '(a)\\1'] }],
      action: 'shout',
    });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((i) => i.path.join('/'));
    expect(paths).toEqual(expect.arrayContaining(['', 'action']));
    expect(result.error!.issues.find((i) => i.code === 'unrecognized_keys')).toMatchObject({ keys: ['serverId'] });
    // The refinements run once the fields parse.
    const refined = GuardrailSpec.safeParse({
      name: 'bad',
      tools: ['search_tickets'],
      detectors: [{ kind: 'prompt_injection', patterns: ['fine', '(?=look)ahead'] }],
      action: 'block',
    });
    expect(refined.error?.issues.map((i) => i.path.join('/'))).toEqual(['tools', 'detectors/0/patterns/1']);
  });
});

describe('a guardrail in a plan and its step', () => {
  it('needs its server in the files or the workspace', () => {
    const plan = planChanges(
      {
        resources: [
          desired({ name: 'g', server: 'nowhere', detectors: [{ kind: 'secrets' }], action: 'block' }),
          desired({ name: 'h', server: 'tickets', detectors: [{ kind: 'secrets' }], action: 'block' }),
        ],
        problems: [],
      },
      live([server('tickets', 's-1')]),
      opts,
    );
    expect(plan.problems).toEqual([
      { path: 'guardrails/g.yaml#/server', message: 'no MCP server "nowhere" in the files or the workspace' },
    ]);
  });

  it('creates with the server’s id, updates every field, and only marks one already as its file says', () => {
    const spec = { name: 'g', server: 'tickets', tools: ['search'], detectors: [{ kind: 'secrets' }], action: 'flag' };
    const d = desired(spec);
    const ctx = { ids: new Map([['server/tickets', 's-1']]), values: {} };
    const created = planChanges({ resources: [d], problems: [] }, live([server('tickets', 's-1')]), opts);
    const createStep = stepOf(
      created.changes.find((c) => c.kind === 'guardrail')!,
      ctx,
    );
    expect(createStep?.op.route.operationId).toBe('createGuardrail');
    expect(createStep?.body).toEqual({ ...d.spec, server: undefined, serverId: 's-1' });
    expect(createStep?.body).not.toHaveProperty('server');

    const adopted: LiveResource = { kind: 'guardrail', name: 'g', id: 'g-1', spec: { ...d.spec } };
    const same = planChanges({ resources: [d], problems: [] }, live([server('tickets', 's-1'), adopted]), opts);
    const adopt = same.changes.find((c) => c.kind === 'guardrail')!;
    expect(adopt).toMatchObject({ action: 'update', fields: ['managed'] });
    expect(stepOf(adopt, ctx)).toBeUndefined();

    const shadowed = { ...adopted, spec: { ...d.spec, enforce: false }, marker: { file: d.file, references: {} } };
    const drift = planChanges({ resources: [d], problems: [] }, live([server('tickets', 's-1'), shadowed]), opts);
    const update = drift.changes.find((c) => c.kind === 'guardrail')!;
    expect(update).toMatchObject({ action: 'update', fields: ['enforce'] });
    expect(stepOf(update, ctx)).toMatchObject({ params: { id: 'g-1' }, body: { enforce: true, serverId: 's-1' } });

    const pruned = planChanges({ resources: [], problems: [] }, live([shadowed]), { ...opts, prune: true });
    expect(stepOf(pruned.changes[0]!, ctx)).toMatchObject({ params: { id: 'g-1' } });
    expect(stepOf(pruned.changes[0]!, ctx)?.op.route.operationId).toBe('deleteGuardrail');
  });

  it('a workspace guardrail’s step says serverId: null', () => {
    const d = desired({ name: 'w', detectors: [{ kind: 'secrets' }], action: 'redact' });
    const plan = planChanges({ resources: [d], problems: [] }, live([]), opts);
    expect(stepOf(plan.changes[0]!, { ids: new Map(), values: {} })?.body).toMatchObject({ serverId: null });
  });
});

describe('a server file’s result shapes', () => {
  it('are checked as the API checks them, at their paths in the file', () => {
    const spec = {
      name: 'shaped',
      mode: 'NORMAL',
      connectorInstance: null,
      tools: [],
      confirmTools: [],
      approvalTools: [],
      approvalRule: null,
      externalMcpServers: [],
      externalMcpConfigs: [],
      config: { resultShapes: { search: { projection: '[].{id: id', maxItems: 0 }, list: { maxItems: 20 } } },
    };
    const plan = planChanges(
      { resources: [{ kind: 'server', name: 'shaped', file: 'mcp-servers/shaped.yaml', spec }], problems: [] },
      live([]),
      opts,
    );
    expect(plan.problems.map((p) => p.path)).toEqual([
      'mcp-servers/shaped.yaml#/config/resultShapes/search/projection',
      'mcp-servers/shaped.yaml#/config/resultShapes/search/maxItems',
    ]);
  });
});
