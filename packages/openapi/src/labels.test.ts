import { describe, expect, it } from '@jest/globals';
import type { ConnectorDescriptor } from '@toolplane/contracts';
import { compileDescriptorTools } from './descriptor-tools.ts';
import { importOpenApi } from './import-openapi.ts';
import { annotationLabels, mergeLabels } from './labels.ts';
import { compileOpenApiTools, type OpenApiToolOptions } from './openapi-tools.ts';

const ok = { description: 'ok' };

/** A document of three operations: a read declaring its labels, a write declaring one, and one declaring nothing. */
const doc = {
  openapi: '3.1.0',
  info: { title: 'Issues', version: '1' },
  servers: [{ url: 'https://issues.example.com' }],
  paths: {
    '/issues/{id}': {
      get: {
        operationId: 'getIssue',
        'x-toolplane-labels': ['untrusted', 'private', 'untrusted'],
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: ok },
      },
    },
    '/gists': { post: { operationId: 'createGist', 'x-toolplane-labels': ['public_write'], responses: { 201: ok } } },
    '/health': { get: { operationId: 'health', responses: { 200: ok } } },
  },
};

async function labelsOf(document: Record<string, unknown>, mappings?: OpenApiToolOptions['mappings']) {
  const imported = await importOpenApi(JSON.stringify(document));
  const tools = compileOpenApiTools(imported.document, {
    binding: { secretNames: {} },
    ...(mappings ? { mappings } : {}),
  });
  return { warnings: imported.warnings, labels: Object.fromEntries(tools.map((t) => [t.tool.name, t.labels])) };
}

describe("an OpenAPI operation's x-toolplane-labels", () => {
  it('are the tool’s declared labels, each once, in a fixed order; none declared: none (the method is no hint)', async () => {
    const { warnings, labels } = await labelsOf(doc);
    expect(warnings).toEqual([]);
    expect(labels).toEqual({
      getIssue: [
        { label: 'private', source: 'declared' },
        { label: 'untrusted', source: 'declared' },
      ],
      createGist: [{ label: 'public_write', source: 'declared' }],
      health: undefined,
    });
  });

  it('add up with a route mapping’s labels', async () => {
    const { labels } = await labelsOf(doc, [
      { operation_id: 'createGist', mcp_tool_name: 'create_gist', mcp_tool_description: 'x', labels: ['private'] },
      { operation_id: 'health', mcp_tool_name: 'health', mcp_tool_description: 'y', labels: ['external_write'] },
    ]);
    expect(labels).toEqual({
      create_gist: [
        { label: 'private', source: 'declared' },
        { label: 'public_write', source: 'declared' },
      ],
      health: [{ label: 'external_write', source: 'declared' }],
    });
  });

  it('an unknown label is a warning of the import at its path, and the known ones stay', async () => {
    const bad = structuredClone(doc) as typeof doc & Record<string, unknown>;
    (bad.paths['/issues/{id}'].get as Record<string, unknown>)['x-toolplane-labels'] = ['untrusted', 'secret'];
    (bad.paths['/gists'].post as Record<string, unknown>)['x-toolplane-labels'] = 'public_write';
    const { warnings, labels } = await labelsOf(bad);
    expect(warnings).toEqual([
      {
        path: '/paths/~1issues~1{id}/get/x-toolplane-labels',
        message: expect.stringContaining('"secret" ignored'),
      },
      { path: '/paths/~1gists/post/x-toolplane-labels', message: expect.stringContaining('must be a list') },
    ]);
    expect(labels.getIssue).toEqual([{ label: 'untrusted', source: 'declared' }]);
    expect(labels.createGist).toBeUndefined();
  });

  it('a mapping that sets openWorldHint itself gives hints when nothing is declared', async () => {
    const { labels } = await labelsOf(doc, [
      {
        operation_id: 'health',
        mcp_tool_name: 'read',
        mcp_tool_description: 'x',
        annotations: { openWorldHint: true },
      },
      {
        operation_id: 'createGist',
        mcp_tool_name: 'gist',
        mcp_tool_description: 'y',
        annotations: { openWorldHint: true, readOnlyHint: true },
      },
    ]);
    // `health` is a GET (readOnlyHint from the method); the gist's declaration wins over its hint.
    expect(labels).toEqual({
      read: [{ label: 'untrusted', source: 'annotation' }],
      gist: [{ label: 'public_write', source: 'declared' }],
    });
  });
});

describe("a connector descriptor's route labels", () => {
  it('are its tool’s declared labels', () => {
    const descriptor = {
      metadata: { name: 'Mail', slug: 'mail', version: '1' },
      authentication: [],
      rate_limits: [],
      operations: [
        {
          operation_id: 'send',
          endpoint: 'https://mail.example.com/send',
          method: 'POST',
          auth_headers: {},
          parameters: [],
        },
      ],
      mcp_config: {
        enabled: true,
        route_mappings: [
          {
            operation_id: 'send',
            mcp_tool_name: 'send_mail',
            mcp_tool_description: 'Send',
            parameter_mappings: {},
            labels: ['external_write'],
          },
        ],
      },
    } as unknown as ConnectorDescriptor;
    const [tool] = compileDescriptorTools(descriptor, { secretNames: {} });
    expect(tool!.labels).toEqual([{ label: 'external_write', source: 'declared' }]);
  });
});

describe('mergeLabels and annotationLabels', () => {
  it('keep one entry per label, the strongest source, and nothing when empty', () => {
    expect(
      mergeLabels(
        [{ label: 'private', source: 'annotation' }],
        [
          { label: 'private', source: 'classification' },
          { label: 'external_write', source: 'annotation' },
        ],
        [{ label: 'private', source: 'declared' }],
      ),
    ).toEqual([
      { label: 'private', source: 'declared' },
      { label: 'external_write', source: 'annotation' },
    ]);
    expect(mergeLabels([], undefined)).toBeUndefined();
  });

  it('read openWorldHint: a read of the open world brings untrusted content, a write there sends data out', () => {
    expect(annotationLabels({ openWorldHint: true, readOnlyHint: true })).toEqual([
      { label: 'untrusted', source: 'annotation' },
    ]);
    expect(annotationLabels({ openWorldHint: true })).toEqual([{ label: 'external_write', source: 'annotation' }]);
    expect(annotationLabels({ openWorldHint: true, readOnlyHint: false })).toEqual([
      { label: 'external_write', source: 'annotation' },
    ]);
    expect(annotationLabels({ openWorldHint: false, readOnlyHint: true })).toEqual([]);
    expect(annotationLabels({ readOnlyHint: true })).toEqual([]);
    expect(annotationLabels(undefined)).toEqual([]);
  });
});
