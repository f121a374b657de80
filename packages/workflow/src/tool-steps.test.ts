import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '@toolplane/errors';
import { compileWorkflowDocument } from './document.ts';
import { HttpTransportError, runWorkflow, type ToolRequest, type ToolResponse } from './engine.ts';
import { fakeHttp, secretsFrom } from './test-support.ts';
import { flowerToolReferences, parseToolRef, toolRef } from './tool-refs.ts';

/** Tool steps (docs/adr/0039): how Flower and Arazzo name a tool of the workspace, and how the engine runs one. */

const none = secretsFrom({});
const noHttp = fakeHttp(() => ({ body: {} })).http;

const flower = (steps: unknown[], outputs: Record<string, unknown> = {}) => ({
  flower: '0.1',
  id: 'doc',
  flows: [{ id: 'f', inputs: { type: 'object', properties: { q: { type: 'string' } } }, steps, outputs }],
});

const problemsOf = (fn: () => unknown): { path: string; message: string }[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err.issues.map((i) => ({ path: i.path, message: i.message }));
    throw err;
  }
  throw new Error('no problem reported');
};

/** A tool runner answering `answer(request)`, recording each request. */
function fakeTools(answer: (req: ToolRequest) => Partial<ToolResponse>) {
  const calls: ToolRequest[] = [];
  const tool = async (req: ToolRequest): Promise<ToolResponse> => {
    calls.push(req);
    return {
      status: 200,
      body: {},
      method: 'tools/call',
      url: 'http://mcp.example/mcp',
      kind: 'mcp',
      size: 2,
      ...answer(req),
    };
  };
  return { tool, calls };
}

describe('tool references', () => {
  it('reads the three forms, decoding their segments', () => {
    expect(parseToolRef('toolplane:mcp_servers/notes/tools/get_note')).toEqual({
      kind: 'mcp_server',
      owner: 'notes',
      tool: 'get_note',
    });
    expect(parseToolRef('toolplane:external_mcp_servers/orders/tools/look%20up')).toEqual({
      kind: 'external_mcp_server',
      owner: 'orders',
      tool: 'look up',
    });
    expect(parseToolRef('toolplane:connectors/notes/instances/eu/operations/get_note')).toEqual({
      kind: 'connector',
      owner: 'notes',
      instance: 'eu',
      tool: 'get_note',
    });
    expect(parseToolRef('toolplane:connectors/notes/operations/get_note')).toEqual({
      kind: 'connector',
      owner: 'notes',
      tool: 'get_note',
    });
    for (const bad of [
      'toolplane:mcp_servers/notes',
      'toolplane:mcp_servers/$inputs.s/tools/t',
      'toolplane:x/y/tools/z',
    ])
      expect(parseToolRef(bad)).toBeUndefined();
    expect(toolRef('toolplane:mcp_servers/notes/', 'a b')).toBe('toolplane:mcp_servers/notes/tools/a%20b');
  });

  it("lists a Flower document's tool references with where each is written", () => {
    const doc = flower([
      { id: 'a', request: { method: 'GET', url: 'https://api.example/a' } },
      { id: 'b', request: { method: 'POST', url: 'toolplane:mcp_servers/s/tools/t' } },
    ]);
    expect(flowerToolReferences(doc)).toEqual([
      { path: '/flows/0/steps/1/request/url', url: 'toolplane:mcp_servers/s/tools/t' },
    ]);
    expect(flowerToolReferences({ arazzo: '1.0.1' })).toEqual([]);
  });
});

describe('Flower tool steps', () => {
  it('compile to tool targets whose arguments are the body', () => {
    const { ir } = compileWorkflowDocument(
      flower([
        { id: 'a', request: { method: 'POST', url: 'toolplane:mcp_servers/s/tools/t', body: { q: '$inputs.q' } } },
      ]),
    );
    expect(ir.workflows[0]!.steps[0]!.target).toEqual({
      kind: 'tool',
      ref: 'toolplane:mcp_servers/s/tools/t',
      tool: 't',
    });
  });

  it('refuses what a tool call cannot be, every problem listed', () => {
    const problems = problemsOf(() =>
      compileWorkflowDocument(
        flower([
          { id: 'a', request: { method: 'GET', url: 'toolplane:mcp_servers/s/tools/t', query: { x: '1' } } },
          { id: 'b', request: { method: 'POST', url: 'toolplane:mcp_servers/s' } },
          { id: 'c', request: { method: 'POST', url: 'toolplane:mcp_servers/s/tools/t', body: [1] } },
        ]),
      ),
    );
    expect(problems.map((p) => p.path)).toEqual([
      '/flows/0/steps/0/request/method',
      '/flows/0/steps/0/request/query',
      '/flows/0/steps/1/request/url',
      '/flows/0/steps/2/request/body',
    ]);
    expect(problems[2]!.message).toContain('toolplane:mcp_servers/<server>/tools/<tool>');
  });
});

describe('Arazzo tool sources', () => {
  const tools = {
    openapi: '3.1.0',
    info: { title: 'Tools of MCP server s', version: '1' },
    paths: { '/tools/lookup': { post: { operationId: 'lookup', responses: { default: { description: 'r' } } } } },
  };
  const doc = (step: Record<string, unknown>) => ({
    arazzo: '1.0.1',
    info: { title: 'T', version: '1' },
    sourceDescriptions: [{ name: 's', url: 'toolplane:mcp_servers/s', type: 'openapi' }],
    workflows: [{ workflowId: 'w', steps: [{ stepId: 'one', operationId: 'lookup', ...step }] }],
  });
  const options = { references: [{ location: 'toolplane:mcp_servers/s', content: tools }], toolSources: ['s'] };

  it('a step naming a tool by operationId becomes a tool step (no warning about servers)', () => {
    const { ir, warnings } = compileWorkflowDocument(doc({ requestBody: { payload: { id: 1 } } }), options);
    expect(ir.workflows[0]!.steps[0]!.target).toEqual({
      kind: 'tool',
      ref: 'toolplane:mcp_servers/s/tools/lookup',
      tool: 'lookup',
      source: 's',
    });
    expect(warnings).toEqual([]);
  });

  it('takes its arguments from requestBody.payload only', () => {
    const problems = problemsOf(() =>
      compileWorkflowDocument(doc({ parameters: [{ name: 'id', in: 'query', value: 1 }] }), options),
    );
    expect(problems).toEqual([
      { path: '/workflows/0/steps/0/parameters/0', message: expect.stringContaining('requestBody.payload') },
    ]);
  });

  it('a toolplane: source is answered only by its own location (not by a file name it shares)', () => {
    const problems = problemsOf(() =>
      compileWorkflowDocument(doc({}), { references: [{ location: 'toolplane:connectors/s', content: tools }] }),
    );
    expect(problems[0]!.path).toBe('/sourceDescriptions/0/url');
  });
});

describe('the engine runs a tool step', () => {
  const ir = compileWorkflowDocument(
    flower(
      [
        {
          id: 'a',
          request: { method: 'POST', url: 'toolplane:mcp_servers/s/tools/t', body: { q: '$inputs.q' } },
          outputs: { status: '$response.body.status' },
        },
        { id: 'b', request: { method: 'POST', url: 'toolplane:external_mcp_servers/e/tools/u' } },
      ],
      { status: '$steps.a.outputs.status' },
    ),
  ).ir;

  it('with its arguments; the answer is the step’s $response.body; the trace names the tool', async () => {
    const tools = fakeTools((req) => ({ body: { status: `seen ${String(req.arguments.q)}` } }));
    const r = await runWorkflow(ir, 'f', { q: 'x' }, { http: noHttp, tool: tools.tool, secret: none });
    expect(r).toMatchObject({ ok: true, outputs: { status: 'seen x' } });
    expect(tools.calls.map((c) => [c.ref, c.arguments])).toEqual([
      ['toolplane:mcp_servers/s/tools/t', { q: 'x' }],
      ['toolplane:external_mcp_servers/e/tools/u', {}],
    ]);
    const action = r.trace.find((e) => e.name === 'action.run')!;
    expect(action.attributes).toMatchObject({
      urlTemplate: 'toolplane:mcp_servers/s/tools/t',
      method: 'tools/call',
      stepKind: 'mcp',
      status: 200,
    });
  });

  it("an error result fails the step with the tool's text; nothing after it runs", async () => {
    const tools = fakeTools(() => ({ status: 502, errorText: 'no such order' }));
    const r = await runWorkflow(ir, 'f', {}, { http: noHttp, tool: tools.tool, secret: none });
    expect(r.error).toMatchObject({ code: 'step_failed', stepId: 'a' });
    expect(r.error!.message).toContain('the tool answered with an error: no such order');
    expect(tools.calls).toHaveLength(1);
  });

  it('a transport failure is the step’s; without a tool runner the step is refused', async () => {
    const unreachable = async (): Promise<ToolResponse> => {
      throw new HttpTransportError('unreachable', 'down');
    };
    const r = await runWorkflow(ir, 'f', {}, { http: noHttp, tool: unreachable, secret: none });
    expect(r.error).toMatchObject({ code: 'upstream_unreachable', stepId: 'a' });
    const bare = await runWorkflow(ir, 'f', {}, { http: noHttp, secret: none });
    expect(bare.error).toMatchObject({ code: 'request_invalid', stepId: 'a' });
  });
});
