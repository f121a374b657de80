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

  it("takes an operation's cost as a whole number of units, and names a fraction or a negative one", () => {
    const priced = (cost: unknown) => {
      const d = descriptor();
      (d.operations[0] as Record<string, unknown>).cost = cost;
      return d;
    };
    expect(parseConnectorDescriptor(priced(4)).ok).toBe(true);
    for (const cost of [0.5, -1, 'ten'])
      expect(issuesOf(priced(cost))).toEqual([{ path: '/operations/0/cost', message: expect.any(String) }]);
  });

  it("takes a route's data-flow labels, and names each unknown or repeated one at its path", () => {
    const labelled = (labels: unknown) => {
      const d = descriptor();
      (d.mcp_config.route_mappings[0] as Record<string, unknown>).labels = labels;
      return d;
    };
    const r = parseConnectorDescriptor(labelled(['private', 'untrusted']));
    expect(r.ok && r.value.mcp_config?.route_mappings[0]?.labels).toEqual(['private', 'untrusted']);
    const d = labelled(['private', 'secret', 'external_write', 'private']);
    d.mcp_config.server_name = 'x'.repeat(101);
    expect(issuesOf(d)).toEqual(
      expect.arrayContaining([
        { path: '/mcp_config/route_mappings/0/labels/1', message: expect.stringContaining('external_write') },
        { path: '/mcp_config/route_mappings/0/labels/3', message: 'duplicate label "private"' },
        { path: '/mcp_config/server_name', message: expect.any(String) },
      ]),
    );
    expect(issuesOf(labelled('private'))).toEqual([
      { path: '/mcp_config/route_mappings/0/labels', message: expect.stringContaining('list of labels') },
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

  it('refuses an OAuth, endpoint or test URL that is not an absolute http(s) URL, naming each', () => {
    const fields = [{ key: 'client_id' }, { key: 'client_secret', secret: true }];
    const d = descriptor({
      authentication: [
        {
          type: 'oauth2_authorization_code',
          fields,
          authorization_url: 'javascript:alert(document.cookie)',
          token_url: 'file:///etc/passwd',
          revocation_url: 'data:text/plain,x',
          test_endpoint: { url: 'ftp://tickets.example.com/' },
        },
        { type: 'oauth2_client_credentials', fields, token_url: 'javascript:void 0' },
      ],
    });
    Object.assign(d.operations[0]!, {
      endpoint: 'gopher://tickets.example.com/{ticket_id}',
      auth_type_ref: 'oauth2_authorization_code',
      auth_headers: {},
    });
    expect(issuesOf(d).sort((a, b) => a.path.localeCompare(b.path))).toEqual(
      [
        '/authentication/0/authorization_url',
        '/authentication/0/revocation_url',
        '/authentication/0/test_endpoint/url',
        '/authentication/0/token_url',
        '/authentication/1/token_url',
        '/operations/0/endpoint',
      ].map((path) => ({ path, message: 'must be an http(s) URL' })),
    );
    const fine = descriptor({
      authentication: [
        {
          type: 'oauth2_authorization_code',
          fields,
          authorization_url: 'https://id.example.com/authorize',
          token_url: 'http://127.0.0.1:4010/token',
        },
      ],
    });
    Object.assign(fine.operations[0]!, { auth_type_ref: 'oauth2_authorization_code', auth_headers: {} });
    expect(parseConnectorDescriptor(fine).ok).toBe(true);
  });

  it('refuses a connector name with control characters', () => {
    expect(
      issuesOf(descriptor({ metadata: { name: 'Tickets\u001b]0;pwned\u0007', slug: 't', version: '1' } })),
    ).toEqual([{ path: '/metadata/name', message: expect.stringMatching(/control characters/) }]);
  });
});

describe('capabilities and sla', () => {
  it("accepts seed 001's blocks and keeps them as written (other keys too), adding no defaults", () => {
    const capabilities = { sync_modes: ['full_refresh', 'incremental'], supports_schema_discovery: false, beta: 1 };
    const sla = { availability_percentage: 99.5, latency_ms_p95: 1500, support: 'business hours' };
    const r = parseConnectorDescriptor(descriptor({ capabilities, sla }));
    expect(r.ok && { capabilities: r.value.capabilities, sla: r.value.sla }).toEqual({ capabilities, sla });
    for (const availability_percentage of [0, 100]) {
      const edge = parseConnectorDescriptor(descriptor({ sla: { availability_percentage } }));
      expect(edge.ok).toBe(true);
    }
    const none = parseConnectorDescriptor(descriptor());
    expect(none.ok && [none.value.capabilities, none.value.sla]).toEqual([undefined, undefined]);
  });

  it("lists every problem of both blocks with its path, together with the other blocks' problems", () => {
    const d = descriptor({
      capabilities: { sync_modes: ['full_refresh', 'realtime', 'full_refresh'], supports_schema_discovery: 'yes' },
      sla: { availability_percentage: 150, latency_ms_p95: -3 },
    });
    d.mcp_config.route_mappings[0]!.operation_id = 'nope';
    const issues = issuesOf(d);
    expect(issues.map((i) => i.path).sort()).toEqual([
      '/capabilities/supports_schema_discovery',
      '/capabilities/sync_modes/1',
      '/capabilities/sync_modes/2',
      '/mcp_config/route_mappings/0/operation_id',
      '/sla/availability_percentage',
      '/sla/latency_ms_p95',
    ]);
    const at = (path: string) => issues.find((i) => i.path === path)!.message;
    expect(at('/capabilities/sync_modes/1')).toMatch(/full_refresh.*incremental/);
    expect(at('/capabilities/sync_modes/2')).toBe('duplicate sync mode "full_refresh"');
    expect(at('/sla/availability_percentage')).toBe('must be between 0 and 100');
    expect(at('/sla/latency_ms_p95')).toBe('must be a positive number of milliseconds');
  });

  it('rejects blocks of the wrong type, and an availability that is not a number', () => {
    expect(issuesOf(descriptor({ capabilities: ['full_refresh'], sla: 'high' })).map((i) => i.path)).toEqual([
      '/capabilities',
      '/sla',
    ]);
    expect(issuesOf(descriptor({ sla: { availability_percentage: '99.9%' } }))).toEqual([
      { path: '/sla/availability_percentage', message: 'must be a number (a percentage)' },
    ]);
    expect(issuesOf(descriptor({ capabilities: { sync_modes: [] } }))).toEqual([
      { path: '/capabilities/sync_modes', message: 'list at least one sync mode, or leave sync_modes out' },
    ]);
  });
});
