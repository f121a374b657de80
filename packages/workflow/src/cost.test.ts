import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '@toolplane/errors';
import { workflowCost } from './cost.ts';
import { compileWorkflowDocument } from './document.ts';
import type { ArazzoCompileOptions } from './arazzo.ts';
import type { StepIR, WorkflowIR } from './ir.ts';

/** A workflow's cost against cost quotas (ADR 0048): declared, or its steps' (an operation's declared cost included). */

const api = {
  openapi: '3.1.0',
  info: { title: 'Orders', version: '1' },
  servers: [{ url: 'https://orders.example' }],
  paths: {
    '/orders': { get: { operationId: 'listOrders', responses: { 200: { description: 'ok' } } } },
    '/orders/{id}': {
      get: { operationId: 'getOrder', 'x-toolplane-cost': 2, responses: { 200: { description: 'ok' } } },
      delete: { operationId: 'cancelOrder', 'x-toolplane-cost': -3, responses: { 204: { description: 'ok' } } },
    },
  },
};
const options: ArazzoCompileOptions = { references: [{ location: 'orders.yaml', content: api }] };

function arazzo(workflows: unknown[]): Record<string, unknown> {
  return {
    arazzo: '1.0.1',
    info: { title: 'Costs', version: '1' },
    sourceDescriptions: [{ name: 'orders', url: 'orders.yaml', type: 'openapi' }],
    workflows,
  };
}

const step = (stepId: string, operationId: string) => ({ stepId, operationId });

function compileError(doc: unknown): ValidationError {
  try {
    compileWorkflowDocument(doc, options);
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('the compilers keep declared costs', () => {
  it('Arazzo: a workflow’s x-toolplane-cost, and an HTTP step’s cost from its operation’s (an invalid one warns)', () => {
    const { ir, warnings } = compileWorkflowDocument(
      arazzo([
        {
          workflowId: 'three',
          steps: [step('list', 'listOrders'), step('get', 'getOrder'), step('cancel', 'cancelOrder')],
        },
        { workflowId: 'flat', 'x-toolplane-cost': 5, steps: [step('get', 'getOrder')] },
      ]),
      options,
    );
    const [three, flat] = ir.workflows as [WorkflowIR, WorkflowIR];
    expect(three.cost).toBeUndefined();
    expect(three.steps.map((s) => s.cost)).toEqual([undefined, 2, undefined]);
    expect(flat.cost).toBe(5);
    expect(warnings).toContainEqual({
      path: '/workflows/0/steps/2/operationId',
      message: 'operation cancelOrder: x-toolplane-cost must be a whole number of at least 0: ignored, a call costs 1',
    });
    // What the catalog charges: 1 + 2 + 1, and the declared cost.
    expect(workflowCost(ir, 'three', () => undefined)).toBe(4);
    expect(workflowCost(ir, 'flat', () => undefined)).toBe(5);
  });

  it('Flower: a flow’s x-toolplane-cost (a flow allows any property)', () => {
    const { ir } = compileWorkflowDocument(
      'flower: "0.1"\nid: f\nflows:\n  - id: one\n    x-toolplane-cost: 7\n    steps:\n' +
        '      - id: a\n        request: { method: GET, url: "https://x.example/a" }\n',
    );
    expect(ir.workflows[0]!.cost).toBe(7);
    expect(workflowCost(ir, 'one', () => undefined)).toBe(7);
  });

  it('an invalid declared cost is a problem at its path, listed with the document’s other problems', () => {
    const bad = compileError(
      arazzo([
        { workflowId: 'negative', 'x-toolplane-cost': -1, steps: [step('a', 'listOrders')] },
        { workflowId: 'text', 'x-toolplane-cost': 'ten', steps: [step('a', 'noSuchOperation')] },
        { workflowId: 'infinite', 'x-toolplane-cost': Infinity, steps: [step('a', 'listOrders')] },
        { workflowId: 'fraction', 'x-toolplane-cost': 0.5, steps: [step('a', 'listOrders')] },
      ]),
    );
    const message = 'must be a whole number of at least 0: what one call of the workflow costs against cost quotas';
    expect(bad.issues).toEqual(
      expect.arrayContaining([
        { path: '/workflows/0/x-toolplane-cost', message },
        { path: '/workflows/1/x-toolplane-cost', message },
        { path: '/workflows/2/x-toolplane-cost', message },
        { path: '/workflows/3/x-toolplane-cost', message },
        { path: '/workflows/1/steps/0/operationId', message: expect.stringContaining('noSuchOperation') },
      ]),
    );
    const flower = compileError(
      'flower: "0.1"\nid: f\nflows:\n  - id: one\n    x-toolplane-cost: .nan\n    steps:\n' +
        '      - id: a\n        request: { method: GET, url: "https://x.example/a" }\n' +
        '  - id: two\n    x-toolplane-cost: -0.5\n    steps: []\n',
    );
    expect(flower.issues).toEqual([
      { path: '/flows/0/x-toolplane-cost', message },
      { path: '/flows/1/steps', message: 'a flow needs at least one step' },
      { path: '/flows/1/x-toolplane-cost', message },
    ]);
  });
});

describe('workflowCost', () => {
  const http = (id: string, cost?: number): StepIR => ({
    id,
    target: { kind: 'http', method: 'GET', url: 'https://x.example' },
    parameters: [],
    successCriteria: [],
    onSuccess: [],
    onFailure: [],
    outputs: [],
    ...(cost !== undefined ? { cost } : {}),
  });
  const call = (id: string, target: StepIR['target']): StepIR => ({ ...http(id), target });
  const wf = (id: string, steps: StepIR[], more: Partial<WorkflowIR> = {}): WorkflowIR => ({
    id,
    inputSchema: { type: 'object' },
    dependsOn: [],
    steps,
    outputs: [],
    secrets: [],
    ...more,
  });
  const tool = (ref: string): StepIR['target'] => ({ kind: 'tool', ref, tool: ref });

  it('a tool step costs the tool’s catalog cost (else 1), a workflow step that workflow’s (its declared cost wins)', () => {
    const doc = {
      workflows: [
        wf('main', [
          http('a'),
          call('b', tool('toolplane:mcp_servers/s/tools/priced')),
          call('c', tool('toolplane:mcp_servers/s/tools/plain')),
          call('d', { kind: 'workflow', workflowId: 'sub' }),
          call('e', { kind: 'workflow', workflowId: 'declared' }),
        ]),
        wf('sub', [http('x', 3), http('y')]),
        wf('declared', [http('z', 100)], { cost: 2 }),
      ],
    };
    const costs: Record<string, number> = { 'toolplane:mcp_servers/s/tools/priced': 4 };
    expect(workflowCost(doc, 'main', (ref) => costs[ref])).toBe(1 + 4 + 1 + 4 + 2);
  });

  it('counts each dependency once, adds nothing for a cycle, and 0 for an unknown workflow', () => {
    const doc = {
      workflows: [
        wf('main', [http('a')], { dependsOn: ['login', 'setup'] }),
        wf('setup', [http('s', 5)], { dependsOn: ['login'] }),
        wf('login', [http('l', 2)]),
        wf('loop', [http('a'), call('again', { kind: 'workflow', workflowId: 'loop' })]),
      ],
    };
    expect(workflowCost(doc, 'main', () => undefined)).toBe(1 + 2 + 5);
    expect(workflowCost(doc, 'loop', () => undefined)).toBe(1);
    expect(workflowCost(doc, 'missing', () => undefined)).toBe(0);
  });
});
