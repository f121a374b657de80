import { describe, expect, it } from '@jest/globals';
import type { Catalog, CatalogTool, ToolStepPlan } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import { compileWorkflowDocument, type WorkflowIR } from '@toolplane/workflow';
import { importOpenApiConnector } from '../documents/openapi-connectors.ts';
import { dataLabelProblems, refuseBadDataLabels, withClassification, workflowLabels } from './labels.ts';

/** A tool's labels as the catalog publishes them (ADR 0078): a server's classification, a workflow's steps'. */

const tool = (name: string, labels?: CatalogTool['labels']): CatalogTool => ({
  tool: { name, description: name, inputSchema: { type: 'object' } },
  plan: { kind: 'mcp', server: 'x', url: 'https://mcp.example/mcp', remoteTool: name },
  ...(labels ? { labels } : {}),
});

const catalog = (tools: CatalogTool[]): Catalog =>
  ({ v: 1, serverId: 's', workspaceId: 'w', version: 1, name: 's', isPublic: false, mode: 'NORMAL', tools }) as Catalog;

describe("a server's classification (config.dataLabels)", () => {
  it('is a list of result labels, each once: every problem at its path, refused with 422', () => {
    expect(dataLabelProblems({ dataLabels: ['private', 'untrusted'] })).toEqual([]);
    expect(dataLabelProblems({ resultShapes: {} })).toEqual([]);
    expect(dataLabelProblems({ dataLabels: ['private', 'external_write', 7, 'private'] })).toEqual([
      { path: '/config/dataLabels/1', message: '"external_write" is not a result label (private, untrusted)' },
      { path: '/config/dataLabels/2', message: '7 is not a result label (private, untrusted)' },
      { path: '/config/dataLabels/3', message: 'duplicate label "private"' },
    ]);
    expect(dataLabelProblems({ dataLabels: 'private' })).toEqual([
      { path: '/config/dataLabels', message: expect.stringContaining('a list') },
    ]);
    expect(() => refuseBadDataLabels({ dataLabels: ['secret'] })).toThrow(ValidationError);
    expect(() => refuseBadDataLabels(undefined)).not.toThrow();
  });

  it('is added to every tool of the server; a declared label stays declared', () => {
    const classified = withClassification(
      catalog([
        tool('read', [{ label: 'private', source: 'declared' }]),
        tool('send', [{ label: 'external_write', source: 'annotation' }]),
        tool('plain'),
      ]),
      { dataLabels: ['untrusted', 'private'] },
    );
    expect(Object.fromEntries(classified.tools.map((t) => [t.tool.name, t.labels]))).toEqual({
      read: [
        { label: 'private', source: 'declared' },
        { label: 'untrusted', source: 'classification' },
      ],
      send: [
        { label: 'private', source: 'classification' },
        { label: 'untrusted', source: 'classification' },
        { label: 'external_write', source: 'annotation' },
      ],
      plain: [
        { label: 'private', source: 'classification' },
        { label: 'untrusted', source: 'classification' },
      ],
    });
    // None: the catalog as it was.
    const none = catalog([tool('plain')]);
    expect(withClassification(none, {})).toBe(none);
    expect(withClassification(none, null)).toBe(none);
  });
});

describe("a workflow tool's labels", () => {
  const api = {
    openapi: '3.1.0',
    info: { title: 'Issues', version: '1' },
    servers: [{ url: 'https://issues.example' }],
    paths: {
      '/issues/{id}': {
        get: {
          operationId: 'getIssue',
          'x-toolplane-labels': ['untrusted'],
          responses: { 200: { description: 'ok' } },
        },
      },
      '/health': { get: { operationId: 'health', responses: { 200: { description: 'ok' } } } },
    },
  };

  it('an Arazzo HTTP step brings its operation’s declared labels', () => {
    const { ir } = compileWorkflowDocument(
      {
        arazzo: '1.0.1',
        info: { title: 'Labels', version: '1' },
        sourceDescriptions: [{ name: 'issues', url: 'issues.yaml', type: 'openapi' }],
        workflows: [
          {
            workflowId: 'read',
            steps: [
              { stepId: 'get', operationId: 'getIssue' },
              { stepId: 'health', operationId: 'health' },
            ],
          },
        ],
      },
      { references: [{ location: 'issues.yaml', content: api }] },
    );
    expect(workflowLabels(ir.workflows as WorkflowIR[], undefined)).toEqual([
      { label: 'untrusted', source: 'declared' },
    ]);
  });

  it('a tool step brings its tool’s, with their sources, from every workflow it may run', () => {
    const step = (id: string, ref: string): WorkflowIR['steps'][number] => ({
      id,
      target: { kind: 'tool', ref, tool: id },
      parameters: [],
      successCriteria: [],
      onSuccess: [],
      onFailure: [],
      outputs: [],
    });
    const workflow = (id: string, steps: WorkflowIR['steps']): WorkflowIR => ({
      id,
      inputSchema: { type: 'object' },
      dependsOn: [],
      steps,
      outputs: [],
      secrets: [],
    });
    const plan = (labels?: ToolStepPlan['labels']): ToolStepPlan => ({
      name: 't',
      plan: { kind: 'mcp', server: 'x', url: 'https://mcp.example/mcp', remoteTool: 't' },
      ...(labels ? { labels } : {}),
    });
    const stepTools = {
      'ref:read': plan([{ label: 'private', source: 'classification' }]),
      'ref:send': plan([{ label: 'public_write', source: 'declared' }]),
      'ref:plain': plan(),
    };
    const workflows = [
      workflow('main', [step('read', 'ref:read'), step('plain', 'ref:plain')]),
      workflow('dependency', [step('send', 'ref:send'), step('gone', 'ref:unknown')]),
    ];
    expect(workflowLabels(workflows, stepTools)).toEqual([
      { label: 'private', source: 'classification' },
      { label: 'public_write', source: 'declared' },
    ]);
  });
});

describe("an OpenAPI connector envelope's route labels", () => {
  const envelope = (labels: unknown) => ({
    kind: 'openapi',
    document: {
      openapi: '3.1.0',
      info: { title: 'Gists', version: '1' },
      servers: [{ url: 'https://gists.example' }],
      paths: { '/gists': { post: { operationId: 'createGist', responses: { 201: { description: 'ok' } } } } },
    },
    mcp_config: {
      route_mappings: [
        { operation_id: 'createGist', mcp_tool_name: 'create_gist', mcp_tool_description: 'Create a gist', labels },
        { operation_id: 'nope', mcp_tool_name: 'other', mcp_tool_description: 'x' },
      ],
    },
  });

  it('are checked with the envelope’s other problems, each at its path', async () => {
    const problems = await importOpenApiConnector(envelope(['public_write', 'public', 'public_write']), '').then(
      () => [],
      (err: ValidationError) => err.issues.map((i) => i.path),
    );
    expect(problems).toEqual([
      '/mcp_config/route_mappings/0/labels/1',
      '/mcp_config/route_mappings/0/labels/2',
      '/mcp_config/route_mappings/1/operation_id',
    ]);
    const ok = await importOpenApiConnector(
      {
        ...envelope(['public_write']),
        mcp_config: {
          route_mappings: [envelope(['public_write']).mcp_config.route_mappings[0]],
        },
      },
      '',
    );
    expect(ok.descriptor.mcp_config.route_mappings[0]!.labels).toEqual(['public_write']);
  });
});
