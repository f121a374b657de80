import { describe, expect, it } from '@jest/globals';
import { parseConnectorDescriptor } from '@toolplane/contracts';
import { ticketSystemDescriptorYaml } from '@toolplane/examples';
import { descriptorToOpenApi } from './descriptor-openapi.ts';
import { compileDescriptorTools } from './descriptor-tools.ts';
import { rebaseUrl } from './http-tools.ts';
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
    expect(search.description).toBe(
      'Search support tickets by status, assignee, or other filters. Returns ticket IDs, titles, statuses, and assignees.',
    );
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
    const [search] = compileDescriptorTools(ticketDescriptor(), {
      baseUrl: 'http://127.0.0.1:4010/',
      secretNames: { api_key: 'ws/1/ci/2/api_key' },
    });
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
    expect(compileDescriptorTools(d, { secretNames: {} }).map((t) => t.tool.name)).toEqual([
      'search_tickets',
      'get_ticket',
    ]);
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
    expect(() => loadDocument('a: [1, 2\nb: : :')).toThrow(
      expect.objectContaining({
        issues: expect.arrayContaining([
          expect.objectContaining({ message: expect.stringMatching(/^line \d+, column \d+: /) }),
        ]),
      }),
    );
  });

  it('parses JSON too', () => {
    expect(loadDocument('{"a": 1}')).toEqual({ a: 1 });
  });

  it('rejects a document that is not a mapping', () => {
    expect(() => loadDocument('- 1\n- 2')).toThrow('the document must be an object');
  });

  it('finds a duplicate key among 19,999 others (one set per mapping), and refuses 20,001 keys in one mapping', () => {
    const keys = (n: number) => Array.from({ length: n }, (_, i) => `k${i}: ${i}\n`).join('');
    const issues = (text: string) => {
      try {
        loadDocument(text);
        return [];
      } catch (err) {
        return (err as { issues: { message: string }[] }).issues.map((i) => i.message);
      }
    };
    expect(issues(`${keys(19_999)}k7: again\n`)).toEqual(['line 20000, column 1: Map keys must be unique']);
    expect(issues(keys(20_001))).toEqual(['line 1, column 1: more than 20000 entries in one mapping (the limit)']);
    expect(Object.keys(loadDocument(keys(20_000)) as object)).toHaveLength(20_000);
    // 1 and "1" are different keys, as YAML has them.
    expect(loadDocument('1: a\n"1": b\n')).toEqual({ 1: 'b' });
  });
});

describe('built-in authentication methods', () => {
  function withAuth(auth: Record<string, unknown>, fields: string[]) {
    const d = ticketDescriptor();
    const raw = JSON.parse(JSON.stringify(d)) as Record<string, any>;
    raw.authentication = [
      { ...auth, fields: fields.map((key) => ({ key, field_type: 'secret', required: true, secret: true })) },
    ];
    for (const op of raw.operations) {
      op.auth_headers = {};
      op.auth_type_ref = auth.type;
    }
    return parseConnectorDescriptor(raw);
  }
  const names = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, `s/${k}`]));

  it('plans Basic from username and password', () => {
    const r = withAuth({ type: 'basic' }, ['username', 'password']);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const [tool] = compileDescriptorTools(r.value, { secretNames: names(['username', 'password']) });
    expect(tool!.plan.authHeaders).toEqual({ Authorization: '{__authorization}' });
    expect(tool!.plan.auth).toEqual({ kind: 'basic', username: 'username', password: 'password' });
    expect(tool!.plan.secrets).toEqual({ username: 's/username', password: 's/password' });
  });

  it('plans Bearer from the first secret field', () => {
    const r = withAuth({ type: 'bearer' }, ['token']);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(compileDescriptorTools(r.value, { secretNames: names(['token']) })[0]!.plan.auth).toEqual({
      kind: 'bearer',
      token: 'token',
    });
  });

  it('plans OAuth2 client credentials with the token URL and scopes', () => {
    const r = withAuth(
      { type: 'oauth2_client_credentials', token_url: 'https://auth.example.com/token', scopes: ['a', 'b'] },
      ['client_id', 'client_secret'],
    );
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const plan = compileDescriptorTools(r.value, { secretNames: names(['client_id', 'client_secret']) })[0]!.plan;
    expect(plan.auth).toEqual({
      kind: 'oauth2_client_credentials',
      tokenUrl: 'https://auth.example.com/token',
      scopes: ['a', 'b'],
      clientId: 'client_id',
      clientSecret: 'client_secret',
    });
    expect(plan.secrets).toEqual({ client_id: 's/client_id', client_secret: 's/client_secret' });
  });

  it("plans a person's own account (oauth2_authorization_code) with its endpoints and scopes", () => {
    const r = withAuth(
      {
        type: 'oauth2_authorization_code',
        authorization_url: 'https://auth.example.com/authorize',
        token_url: 'https://auth.example.com/token',
        revocation_url: 'https://auth.example.com/revoke',
        scopes: ['calendar.read'],
      },
      ['client_id', 'client_secret'],
    );
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const plan = compileDescriptorTools(r.value, { secretNames: names(['client_id', 'client_secret']) })[0]!.plan;
    expect(plan.auth).toEqual({
      kind: 'oauth2_authorization_code',
      authorizeUrl: 'https://auth.example.com/authorize',
      tokenUrl: 'https://auth.example.com/token',
      revocationUrl: 'https://auth.example.com/revoke',
      scopes: ['calendar.read'],
      clientId: 'client_id',
      clientSecret: 'client_secret',
    });
    expect(plan.secrets).toEqual({ client_id: 's/client_id', client_secret: 's/client_secret' });
    expect(plan.authHeaders).toEqual({ Authorization: '{__authorization}' });
  });

  it('rejects methods missing their required fields, and header templates naming unknown fields', () => {
    const basic = withAuth({ type: 'basic' }, ['user']);
    expect(basic.ok ? [] : basic.issues).toEqual([
      { path: '/authentication/0/fields', message: 'a "basic" method needs a field with key "username"' },
      { path: '/authentication/0/fields', message: 'a "basic" method needs a field with key "password"' },
    ]);
    const oauth = withAuth({ type: 'oauth2_client_credentials' }, ['client_id', 'client_secret']);
    expect(oauth.ok ? [] : oauth.issues).toEqual([
      { path: '/authentication/0/token_url', message: 'an "oauth2_client_credentials" method needs token_url' },
    ]);
    const person = withAuth({ type: 'oauth2_authorization_code', revocation_url: 'not a url' }, ['client_id']);
    expect(person.ok ? [] : person.issues).toEqual([
      { path: '/authentication/0/revocation_url', message: expect.stringMatching(/url/i) },
      {
        path: '/authentication/0/fields',
        message: 'a "oauth2_authorization_code" method needs a field with key "client_secret"',
      },
      {
        path: '/authentication/0/authorization_url',
        message: 'an "oauth2_authorization_code" method needs authorization_url',
      },
      { path: '/authentication/0/token_url', message: 'an "oauth2_authorization_code" method needs token_url' },
    ]);
    const d = JSON.parse(JSON.stringify(ticketDescriptor())) as Record<string, any>;
    d.operations[0].auth_headers = { 'X-API-Key': '{apikey}' };
    const typo = parseConnectorDescriptor(d);
    expect(typo.ok ? [] : typo.issues).toEqual([
      {
        path: '/operations/0/auth_headers',
        message: 'template {apikey} names no field of the "api_key" authentication method',
      },
    ]);
  });
});

describe('compileDescriptorTools through descriptorToOpenApi', () => {
  it('keeps each operation on its own origin when a descriptor uses several', () => {
    const d = ticketDescriptor();
    d.operations[1]!.endpoint = 'https://files.example.com/api/v1/tickets/{ticket_id}';
    const doc = descriptorToOpenApi(d) as any;
    expect(doc.paths['/api/v1/tickets/{ticket_id}'].get.servers).toEqual([{ url: 'https://files.example.com' }]);
    const tools = compileDescriptorTools(d, { secretNames: {} });
    expect(tools.map((t) => t.plan.url)).toEqual([
      expect.stringMatching(/^https:\/\/(?!files\.)[^/]+\/api\/v1\/tickets$/),
      'https://files.example.com/api/v1/tickets/{ticket_id}',
      expect.stringMatching(/^https:\/\/(?!files\.)[^/]+\/api\/v1\/tickets$/),
    ]);
  });

  it('compiles operations sharing a method and endpoint (one OpenAPI document cannot hold both)', () => {
    const raw = JSON.parse(JSON.stringify(ticketDescriptor())) as Record<string, any>;
    raw.operations.push({
      ...raw.operations[0],
      operation_id: 'search_tickets_again',
      parameters: [{ name: 'q', location: 'query' }],
    });
    raw.mcp_config.route_mappings.push({
      operation_id: 'search_tickets_again',
      mcp_tool_name: 'search_again',
      mcp_tool_description: 'Again',
    });
    const r = parseConnectorDescriptor(raw);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const tools = compileDescriptorTools(r.value, { secretNames: {} });
    expect(tools.map((t) => t.tool.name)).toEqual(['search_tickets', 'get_ticket', 'create_ticket', 'search_again']);
    expect(tools[3]!.plan.params).toEqual([{ arg: 'q', name: 'q', in: 'query' }]);
    expect(tools[0]!.plan.params.map((p) => p.name)).toEqual(['status', 'assignee', 'limit']);
  });

  it('sends body parameters as one JSON object in the descriptor order, with defaults in the plan', () => {
    const raw = JSON.parse(JSON.stringify(ticketDescriptor())) as Record<string, any>;
    const create = raw.operations.find((o: any) => o.operation_id === 'create_ticket');
    create.parameters.unshift({ name: 'notify', location: 'query', field_type: 'boolean', default_value: true });
    const r = parseConnectorDescriptor(raw);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const tool = compileDescriptorTools(r.value, { secretNames: {} })[2]!;
    expect(tool.plan.params[0]).toEqual({ arg: 'notify', name: 'notify', in: 'query', default: true });
    expect(tool.plan.params.slice(1).every((p) => p.in === 'body' && !p.wholeBody && p.style === undefined)).toBe(true);
    expect(tool.plan.bodyEncoding).toBeUndefined();
    expect(tool.plan.output).toBeUndefined();
    expect(tool.tool.inputSchema.required).toEqual(['title']);
  });
});
