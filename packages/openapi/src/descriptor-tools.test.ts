import { describe, expect, it } from '@jest/globals';
import { parseConnectorDescriptor } from '@toolplane/contracts';
import { ticketSystemDescriptorYaml } from '@toolplane/examples';
import { compileDescriptorTools, rebaseUrl } from './descriptor-tools.ts';
import { loadDocument } from './load-document.ts';

function ticketDescriptor() {
  const r = parseConnectorDescriptor(loadDocument(ticketSystemDescriptorYaml));
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
}

describe('compileDescriptorTools', () => {
  it('makes one tool per route mapping with the seed names, descriptions and JSON Schema input', () => {
    const tools = compileDescriptorTools(ticketDescriptor(), { secretNames: { api_key: 'ws/1/ci/2/api_key' } });
    expect(tools.map((t) => t.tool.name)).toEqual(['search_tickets', 'get_ticket', 'create_ticket']);
    const search = tools[0]!.tool;
    expect(search.description).toBe('Search support tickets by status, assignee, or other filters. Returns ticket IDs, titles, statuses, and assignees.');
    expect(search.inputSchema).toEqual({
      type: 'object',
      additionalProperties: false,
      properties: {
        status: { type: 'string', description: 'Filter by status (open, closed, in_progress)' },
        assignee: { type: 'string', description: 'Filter by assignee email' },
        limit: { type: 'integer', default: 25 },
      },
    });
    expect(search.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    const create = tools[2]!.tool;
    expect(create.inputSchema.required).toEqual(['title']);
    expect(create.annotations).toMatchObject({ readOnlyHint: false, idempotentHint: false });
    expect(tools[1]!.tool.inputSchema.required).toEqual(['ticket_id']);
  });

  it('plans hold secret names, never values, and rebase endpoints on the instance base URL', () => {
    const [search] = compileDescriptorTools(ticketDescriptor(), { baseUrl: 'http://127.0.0.1:4010/', secretNames: { api_key: 'ws/1/ci/2/api_key' } });
    expect(search!.plan).toEqual({
      kind: 'http',
      method: 'GET',
      url: 'http://127.0.0.1:4010/api/v1/tickets',
      params: [
        { arg: 'status', name: 'status', in: 'query' },
        { arg: 'assignee', name: 'assignee', in: 'query' },
        { arg: 'limit', name: 'limit', in: 'query', default: 25 },
      ],
      authHeaders: { 'X-API-Key': '{api_key}' },
      secrets: { api_key: 'ws/1/ci/2/api_key' },
    });
  });

  it('renames parameters with parameter_mappings', () => {
    const d = ticketDescriptor();
    d.mcp_config!.route_mappings[1]!.parameter_mappings = { ticket_id: 'id' };
    const get = compileDescriptorTools(d, { secretNames: {} })[1]!;
    expect(Object.keys(get.tool.inputSchema.properties as object)).toEqual(['id']);
    expect(get.tool.inputSchema.required).toEqual(['id']);
    expect(get.plan.params).toEqual([{ arg: 'id', name: 'ticket_id', in: 'path' }]);
  });

  it('exposes only mapped operations', () => {
    const d = ticketDescriptor();
    d.mcp_config!.route_mappings = d.mcp_config!.route_mappings.filter((m) => m.operation_id !== 'create_ticket');
    expect(compileDescriptorTools(d, { secretNames: {} }).map((t) => t.tool.name)).toEqual(['search_tickets', 'get_ticket']);
  });
});

describe('rebaseUrl', () => {
  it('keeps path and placeholders', () => {
    expect(rebaseUrl('https://a.example.com/v1/x/{id}', 'http://127.0.0.1:9')).toBe('http://127.0.0.1:9/v1/x/{id}');
    expect(rebaseUrl('https://a.example.com/v1', undefined)).toBe('https://a.example.com/v1');
  });
});

describe('loadDocument', () => {
  it('lists every YAML syntax problem with its position', () => {
    expect(() => loadDocument('a: [1, 2\nb: : :')).toThrow(expect.objectContaining({ issues: expect.arrayContaining([expect.objectContaining({ message: expect.stringMatching(/^line \d+, column \d+: /) })]) }));
  });

  it('parses JSON too', () => {
    expect(loadDocument('{"a": 1}')).toEqual({ a: 1 });
  });

  it('rejects a document that is not a mapping', () => {
    expect(() => loadDocument('- 1\n- 2')).toThrow('the document must be an object');
  });
});
