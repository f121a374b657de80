import { describe, expect, it } from '@jest/globals';
import { parseConnectorDescriptor } from './descriptor.ts';

function descriptor(overrides: Record<string, unknown> = {}) {
  return {
    metadata: { name: 'Ticket System', slug: 'ticket-system', version: '1.0.0' },
    authentication: [
      { type: 'api_key', fields: [{ key: 'api_key', field_type: 'secret', required: true, secret: true }] },
    ],
    operations: [
      {
        operation_id: 'get_ticket',
        endpoint: 'https://tickets.example.com/api/v1/tickets/{ticket_id}',
        method: 'GET',
        auth_type_ref: 'api_key',
        auth_headers: { 'X-API-Key': '{api_key}' },
        parameters: [{ name: 'ticket_id', location: 'path', field_type: 'string', required: true }],
      },
    ],
    mcp_config: {
      enabled: true,
      server_name: 'tickets',
      server_description: 'Ticket tools',
      route_mappings: [
        { operation_id: 'get_ticket', mcp_tool_name: 'get_ticket', mcp_tool_description: 'Get a ticket' },
      ],
    },
    ...overrides,
  };
}

function issuesOf(raw: unknown) {
  const r = parseConnectorDescriptor(raw);
  if (r.ok) throw new Error('expected the descriptor to be rejected');
  return r.issues;
}

describe('parseConnectorDescriptor', () => {
  it('accepts a valid descriptor and applies defaults', () => {
    const r = parseConnectorDescriptor(descriptor());
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.value.mcp_config?.route_mappings[0]?.parameter_mappings).toEqual({});
      expect(r.value.rate_limits).toEqual([]);
    }
  });

  it('rejects a route mapping whose operation_id matches no operation', () => {
    const d = descriptor();
    d.mcp_config.route_mappings.push({ operation_id: 'nope', mcp_tool_name: 'other', mcp_tool_description: 'x' });
    expect(issuesOf(d)).toEqual([
      { path: '/mcp_config/route_mappings/1/operation_id', message: expect.stringContaining('"nope"') },
    ]);
  });

  it('rejects duplicate mcp_tool_name values', () => {
    const d = descriptor();
    d.mcp_config.route_mappings.push({
      operation_id: 'get_ticket',
      mcp_tool_name: 'get_ticket',
      mcp_tool_description: 'again',
    });
    expect(issuesOf(d)).toEqual([
      {
        path: '/mcp_config/route_mappings/1/mcp_tool_name',
        message: expect.stringContaining('duplicate mcp_tool_name'),
      },
    ]);
  });

  it('requires server_name when enabled is true', () => {
    const d = descriptor();
    delete (d.mcp_config as { server_name?: string }).server_name;
    expect(issuesOf(d)).toEqual([
      { path: '/mcp_config/server_name', message: 'server_name is required when enabled is true' },
    ]);
  });

  it('does not require server_name when MCP is disabled', () => {
    const d = descriptor();
    d.mcp_config.enabled = false;
    delete (d.mcp_config as { server_name?: string }).server_name;
    expect(parseConnectorDescriptor(d).ok).toBe(true);
  });

  it('enforces the length ranges of server_name, server_description, mcp_tool_name and mcp_tool_description', () => {
    const d = descriptor();
    d.mcp_config.server_name = 'x'.repeat(101);
    d.mcp_config.server_description = 'y'.repeat(501);
    d.mcp_config.route_mappings[0]!.mcp_tool_name = 'z'.repeat(101);
    d.mcp_config.route_mappings[0]!.mcp_tool_description = '';
    const paths = issuesOf(d)
      .map((i) => i.path)
      .sort();
    expect(paths).toEqual([
      '/mcp_config/route_mappings/0/mcp_tool_description',
      '/mcp_config/route_mappings/0/mcp_tool_name',
      '/mcp_config/server_description',
      '/mcp_config/server_name',
    ]);
  });

  it('reports shape errors and rule violations together', () => {
    const d = descriptor();
    d.mcp_config.server_name = 'x'.repeat(101);
    d.mcp_config.route_mappings.push({
      operation_id: 'missing_op',
      mcp_tool_name: 'get_ticket',
      mcp_tool_description: 'dup',
    });
    const paths = issuesOf(d)
      .map((i) => i.path)
      .sort();
    expect(paths).toEqual([
      '/mcp_config/route_mappings/1/mcp_tool_name',
      '/mcp_config/route_mappings/1/operation_id',
      '/mcp_config/server_name',
    ]);
  });

  it('rejects parameter mappings that rename a missing parameter or collide', () => {
    const d = descriptor();
    d.operations[0]!.parameters.push({ name: 'verbose', location: 'query', field_type: 'boolean', required: false });
    (d.mcp_config.route_mappings[0] as Record<string, unknown>).parameter_mappings = {
      nope: 'x',
      ticket_id: 'verbose',
    };
    const issues = issuesOf(d);
    expect(issues.map((i) => i.path).sort()).toEqual([
      '/mcp_config/route_mappings/0/parameter_mappings/nope',
      '/mcp_config/route_mappings/0/parameter_mappings/ticket_id',
    ]);
  });

  it('rejects a path placeholder without a path parameter', () => {
    const d = descriptor();
    d.operations[0]!.parameters = [];
    expect(issuesOf(d)).toEqual([{ path: '/operations/0/endpoint', message: expect.stringContaining('{ticket_id}') }]);
  });
});
