import { describe, expect, it } from '@jest/globals';
import { compileWorkflowDocument } from './document.ts';
import { runWorkflow } from './engine.ts';
import type { WorkflowDocumentIR } from './ir.ts';
import { fakeHttp, secretsFrom } from './test-support.ts';

/**
 * Outputs are evaluated in declaration order, each seeing `$outputs` of those above it, also after the
 * IR went through PostgreSQL `jsonb` (the control plane stores it there and reads it back), which
 * reorders object keys: shorter keys first, then bytewise.
 */

/** What a `jsonb` column gives back: every object's keys sorted by length, then alphabetically. */
function throughJsonb(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(throughJsonb);
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(keys.map((k) => [k, throughJsonb((value as Record<string, unknown>)[k])]));
  }
  return value;
}

const stored = (ir: WorkflowDocumentIR): WorkflowDocumentIR =>
  throughJsonb(JSON.parse(JSON.stringify(ir))) as WorkflowDocumentIR;

const none = secretsFrom({});

describe('declaration order survives storage', () => {
  it('the jsonb simulation does reorder keys (zz after aa, label before lead_city)', () => {
    expect(Object.keys(throughJsonb({ zz: 1, aa: 2, lead_city: 3, label: 4 }) as object)).toEqual([
      'aa',
      'zz',
      'label',
      'lead_city',
    ]);
  });

  it('Flower: step and flow outputs see the outputs declared above them, whatever the names', async () => {
    const { ir, tools } = compileWorkflowDocument({
      flower: '0.1',
      id: 'doc',
      flows: [
        {
          id: 'lead',
          steps: [
            {
              id: 'fetch',
              request: { method: 'GET', url: 'https://api.example/lead' },
              outputs: { lead_city: '$response.body.city', label: 'Lead in $outputs.lead_city' },
            },
          ],
          outputs: { zz: '$steps.fetch.outputs.label', aa: '$outputs.zz', city: '$steps.fetch.outputs.lead_city' },
        },
      ],
    });
    const back = stored(ir);
    const up = fakeHttp(() => ({ body: { city: 'Angers' } }));
    const r = await runWorkflow(back, 'lead', {}, { http: up.http, secret: none });
    expect(r.error).toBeUndefined();
    expect(r.outputs).toEqual({ zz: 'Lead in Angers', aa: 'Lead in Angers', city: 'Angers' });
    // The caller gets them in declaration order too; the compiled tool's output schema lists them so.
    expect(Object.keys(r.outputs)).toEqual(['zz', 'aa', 'city']);
    expect(Object.keys(tools[0]!.outputSchema.properties as object)).toEqual(['zz', 'aa', 'city']);
  });

  it('Arazzo: step and workflow outputs see the outputs declared above them, whatever the names', async () => {
    const api = {
      openapi: '3.1.0',
      info: { title: 'api', version: '1' },
      servers: [{ url: 'https://api.example/v1' }],
      paths: { '/lead': { get: { operationId: 'getLead', responses: { '200': { description: 'ok' } } } } },
    };
    const { ir } = compileWorkflowDocument(
      {
        arazzo: '1.0.1',
        info: { title: 'T', version: '1' },
        sourceDescriptions: [{ name: 'api', url: 'api.yaml', type: 'openapi' }],
        workflows: [
          {
            workflowId: 'lead',
            steps: [
              {
                stepId: 'fetch',
                operationId: 'getLead',
                outputs: { zz: '$response.body#/city', aa: 'Lead in {$outputs.zz}' },
              },
            ],
            outputs: { zz: '$steps.fetch.outputs.aa', aa: '$outputs.zz' },
          },
          {
            // A workflow step: its `$outputs` are the called workflow's, its own outputs in order.
            workflowId: 'outer',
            steps: [{ stepId: 'call', workflowId: 'lead', outputs: { zz: '$outputs.aa' } }],
            outputs: { zz: '$steps.call.outputs.zz', aa: '{$outputs.zz}!' },
          },
        ],
      },
      { references: [{ location: 'api.yaml', content: api }] },
    );
    const back = stored(ir);
    const up = fakeHttp(() => ({ body: { city: 'Angers' } }));
    const lead = await runWorkflow(back, 'lead', {}, { http: up.http, secret: none });
    expect(lead.error).toBeUndefined();
    expect(lead.outputs).toEqual({ zz: 'Lead in Angers', aa: 'Lead in Angers' });
    expect(Object.keys(lead.outputs)).toEqual(['zz', 'aa']);
    const outer = await runWorkflow(back, 'outer', {}, { http: up.http, secret: none });
    expect(outer.error).toBeUndefined();
    expect(outer.outputs).toEqual({ zz: 'Lead in Angers', aa: 'Lead in Angers!' });
  });

  it('still runs an IR stored before outputs were ordered pairs (v1: plain objects), in the order it arrives', async () => {
    const { ir } = compileWorkflowDocument({
      flower: '0.1',
      id: 'doc',
      flows: [
        {
          id: 'f',
          steps: [
            { id: 's', request: { method: 'GET', url: 'https://api.example/' }, outputs: { a: '$response.body.a' } },
          ],
          outputs: { first: '$steps.s.outputs.a', second: '$outputs.first' },
        },
      ],
    });
    const legacy = {
      ...ir,
      v: 1,
      workflows: ir.workflows.map((w) => ({
        ...w,
        outputs: Object.fromEntries(w.outputs),
        steps: w.steps.map((s) => ({ ...s, outputs: Object.fromEntries(s.outputs) })),
      })),
    } as unknown as WorkflowDocumentIR;
    const up = fakeHttp(() => ({ body: { a: 7 } }));
    const r = await runWorkflow(legacy, 'f', {}, { http: up.http, secret: none });
    expect(r.outputs).toEqual({ first: 7, second: 7 });
  });

  it('warns at compile time about `$outputs.<name>` of an output declared below (or nowhere): it reads as absent', () => {
    const flower = compileWorkflowDocument({
      flower: '0.1',
      id: 'doc',
      flows: [
        {
          id: 'f',
          steps: [
            {
              id: 's',
              request: { method: 'GET', url: 'https://api.example/' },
              outputs: { label: 'Lead in $outputs.lead_city', lead_city: '$response.body.city' },
            },
          ],
          outputs: { aa: '$outputs.zz', zz: '$steps.s.outputs.label', ok: '$outputs.zz', ghost: '$outputs.nope' },
        },
      ],
    });
    expect(flower.warnings).toEqual([
      {
        path: '/flows/0/steps/0/outputs/label',
        message: expect.stringContaining('the output "lead_city" is declared below "label"'),
      },
      { path: '/flows/0/outputs/aa', message: expect.stringContaining('the output "zz" is declared below "aa"') },
      { path: '/flows/0/outputs/ghost', message: expect.stringContaining('there is no output "nope" declared above') },
    ]);
    const api = {
      openapi: '3.1.0',
      info: { title: 'api', version: '1' },
      servers: [{ url: 'https://api.example/v1' }],
      paths: { '/lead': { get: { operationId: 'getLead', responses: { '200': { description: 'ok' } } } } },
    };
    const arazzo = compileWorkflowDocument(
      {
        arazzo: '1.0.1',
        info: { title: 'T', version: '1' },
        sourceDescriptions: [{ name: 'api', url: 'api.yaml', type: 'openapi' }],
        workflows: [
          {
            workflowId: 'inner',
            steps: [{ stepId: 'get', operationId: 'getLead', outputs: { aa: '{$outputs.zz}', zz: '$statusCode' } }],
            outputs: { zz: '$steps.get.outputs.zz' },
          },
          {
            workflowId: 'outer',
            // A workflow step's `$outputs` are the called workflow's: no warning there.
            steps: [{ stepId: 'call', workflowId: 'inner', outputs: { aa: '$outputs.zz' } }],
            outputs: { aa: '$outputs.zz', zz: '$steps.call.outputs.aa' },
          },
        ],
      },
      { references: [{ location: 'api.yaml', content: api }] },
    );
    expect(arazzo.warnings).toEqual([
      {
        path: '/workflows/0/steps/0/outputs/aa',
        message: expect.stringContaining('the output "zz" is declared below "aa"'),
      },
      { path: '/workflows/1/outputs/aa', message: expect.stringContaining('the output "zz" is declared below "aa"') },
    ]);
  });

  it('request bodies keep the order of their fields (JSON and form-encoded), through storage too', async () => {
    const { ir } = compileWorkflowDocument({
      flower: '0.1',
      id: 'doc',
      flows: [
        {
          id: 'f',
          inputs: { properties: { who: { type: 'string' } } },
          steps: [
            {
              id: 'json',
              request: {
                method: 'POST',
                url: 'https://api.example/json',
                body: { zz: '$inputs.who', aa: { zz: 1, a: [{ yy: true, b: null }] } },
              },
            },
            {
              id: 'form',
              request: {
                method: 'POST',
                url: 'https://api.example/form',
                headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
                body: { grant_type: 'client_credentials', scope: 'read', client_id: '$inputs.who' },
              },
            },
          ],
        },
      ],
    });
    const up = fakeHttp(() => ({ body: {} }));
    const r = await runWorkflow(stored(ir), 'f', { who: 'ann' }, { http: up.http, secret: none });
    expect(r.error).toBeUndefined();
    expect(up.requests.map((q) => q.body)).toEqual([
      '{"zz":"ann","aa":{"zz":1,"a":[{"yy":true,"b":null}]}}',
      'grant_type=client_credentials&scope=read&client_id=ann',
    ]);
    expect(up.requests[0]!.headers['content-type']).toBe('application/json');
  });
});
