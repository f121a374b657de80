import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { ServiceProcess, Stack } from '@toolplane/cli';
import { ApiError, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { LocalSealedSecretsReader, LocalSealedSecretsWriter } from '../../../packages/secrets/src/index.ts';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';

/**
 * The catalog service (docs/architecture.md, "Catalog service"): bindings never silently change,
 * `mcp_config`, secrets of deleted servers, DELETE /connectors, restricted keys' listing.
 */

let stack: Stack;
let api: ManagementClient;
let sandbox: TicketSystem;
let prod: TicketSystem;
let connectorId: string;

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'catalog-e2e', version: '1.0.0' }, { versionNegotiation: { mode: 'legacy' } });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
  );
  return client;
}

async function toolNames(url: string): Promise<string[]> {
  const client = await connect(url);
  try {
    return (await client.listTools()).tools.map((t) => t.name);
  } finally {
    await client.close();
  }
}

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('the request succeeded');
}

/** The example descriptor under another slug, tool names prefixed, `mcp_config` header lines replaced. */
function variant(slug: string, prefix: string, mcp: { enabled: boolean; name: string; description: string }): string {
  return ticketSystemDescriptorYaml
    .replace(/slug: "?ticket-system"?/, `slug: ${slug}`)
    .replace(/mcp_tool_name: (\w+)/g, `mcp_tool_name: ${prefix}$1`)
    .replace('  enabled: true\n', `  enabled: ${mcp.enabled}\n`)
    .replace('  server_name: "ticket_system"\n', `  server_name: "${mcp.name}"\n`)
    .replace(
      '  server_description: "Internal ticket management tools"\n',
      `  server_description: "${mcp.description}"\n`,
    );
}

function processEnv(service: string): Record<string, string> {
  const p = stack.processes.find((s) => s.service === service) as ServiceProcess;
  return Object.fromEntries(
    readFileSync(`/proc/${p.child.pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** The sealed store as the worker reads it (values) and its metadata (names), outside the services. */
function store() {
  const cp = processEnv('control-plane');
  const worker = processEnv('worker');
  return {
    names: async (fragment: string) =>
      (
        await new LocalSealedSecretsWriter(cp.SECRETS_DIR!, readFileSync(cp.SECRETS_PUBLIC_KEY_FILE!, 'utf8')).list(
          'ws/',
        )
      )
        .map((m) => m.name)
        .filter((n) => n.includes(fragment)),
    reader: new LocalSealedSecretsReader(worker.SECRETS_DIR!, readFileSync(worker.SECRETS_PRIVATE_KEY_FILE!, 'utf8')),
  };
}

beforeAll(async () => {
  sandbox = await startTicketSystem({ apiKey: 'sandbox-key' });
  prod = await startTicketSystem({ apiKey: 'prod-key' });
  ({ stack, api } = await startTestStack('catalog'));
  connectorId = (await unwrap(api.POST('/connectors', yamlBody(ticketSystemDescriptorYaml)))).id;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await sandbox?.close();
  await prod?.close();
});

describe('deleting a connector instance', () => {
  it("leaves its servers without its tools, never with another instance's (no call reaches the other upstream)", async () => {
    const instance = (name: string, url: string, key: string) =>
      unwrap(
        api.POST('/connector_instances', {
          body: { connector_id: connectorId, name, base_url: url, credentials: { api_key: key }, createServer: false },
        }),
      );
    const sb = await instance('sandbox', sandbox.url, 'sandbox-key');
    const pr = await instance('prod', prod.url, 'prod-key');
    const bound = await unwrap(
      api.POST('/mcp_manager', {
        body: { name: 'bound-picker', mode: 'NORMAL', connectorInstanceId: sb.id, selectedTools: ['get_ticket'] },
      }),
    );
    // No instance: `get_ticket` is looked up by name in the workspace (the first instance, sandbox).
    const byName = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'name-picker', mode: 'NORMAL', selectedTools: ['get_ticket'] } }),
    );
    expect(bound.tools).toEqual(['get_ticket']);
    expect(byName.tools).toEqual(['get_ticket']);
    const client = await connect(bound.url);
    const before = await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
    await client.close();
    expect(before.isError).toBeFalsy();
    expect(sandbox.requests.length).toBe(1);

    await unwrap(api.DELETE('/connector_instances/{id}', { params: { path: { id: sb.id } } }));

    for (const s of [bound, byName]) {
      const shown = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: s.id } } }));
      expect(shown.tools).toEqual([]);
      expect(shown.warnings?.join('\n')).toMatch(/connector instance "sandbox".* was deleted/);
      await waitFor(
        'the server to list no tools',
        async () => (await toolNames(s.url)).length === 0,
        PROPAGATION_DEADLINE_MS,
      );
      const c = await connect(s.url);
      // An unknown tool: a protocol error (or an isError result), never a call upstream.
      const after = await c.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } }).then(
        (r) => (r.isError ? 'error' : 'called'),
        (err: unknown) => String(err),
      );
      await c.close();
      expect(after).not.toBe('called');
    }
    expect(prod.requests.length).toBe(0);
    expect(sandbox.requests.length).toBe(1);

    // Other updates keep working; choosing a tool source again is explicit and clears the warning.
    await unwrap(
      api.PATCH('/mcp_manager/{id}', { params: { path: { id: bound.id } }, body: { description: 'still here' } }),
    );
    const rebound = await unwrap(
      api.PATCH('/mcp_manager/{id}', {
        params: { path: { id: bound.id } },
        body: { connectorInstanceId: pr.id, selectedTools: ['get_ticket'] },
      }),
    );
    expect(rebound.tools).toEqual(['get_ticket']);
    expect(rebound.warnings).toBeUndefined();
  });
});

describe('mcp_config', () => {
  it('enabled: false: stored and validated, but no operation is a tool anywhere (NORMAL, SMART)', async () => {
    const yaml = variant('tickets-off', 'off_', { enabled: false, name: 'off_tickets', description: 'Off' });
    const connector = await unwrap(api.POST('/connectors', yamlBody(yaml)));
    expect(connector.operations.length).toBeGreaterThan(0);
    expect(connector.tools).toEqual([]);
    const inst = await unwrap(
      api.POST('/connector_instances', {
        body: { connector_id: connector.id, name: 'off', base_url: prod.url, credentials: { api_key: 'prod-key' } },
      }),
    );
    expect(inst.mcp_server_id).toBeNull();
    // A server bound to it would have no tools and answer every call "Unknown tool": refused, saying why.
    const normal = await failure(
      unwrap(api.POST('/mcp_manager', { body: { name: 'off-normal', mode: 'NORMAL', connectorInstanceId: inst.id } })),
    );
    expect(normal.status).toBe(422);
    expect(
      (
        await failure(
          unwrap(
            api.POST('/mcp_manager', { body: { name: 'off-pick', mode: 'NORMAL', selectedTools: ['off_get_ticket'] } }),
          ),
        )
      ).status,
    ).toBe(422);
    const smart = await unwrap(api.POST('/mcp_manager', { body: { name: 'off-smart', mode: 'SMART' } }));
    const config = await unwrap(api.GET('/mcp_manager/{id}/config', { params: { path: { id: smart.id } } }));
    expect(config.catalog!.tools.length).toBeGreaterThan(0);
    expect(config.catalog!.tools.filter((t) => t.name.startsWith('off_'))).toEqual([]);
    // /config shows what an MCP client sees: the meta tools of a SMART server.
    expect(config.tools.map((t) => t.name)).toEqual([
      'search_tools',
      'describe_tool',
      'execute_tool',
      'run_code',
      'list_connections',
      'connect',
    ]);
  });

  it('enabled: true: each instance gets its own named server; createServer: false opts out; never a 409', async () => {
    const yaml = variant('tickets-auto', 'auto_', {
      enabled: true,
      name: 'auto_tickets',
      description: 'Auto ticket tools',
    });
    const connector = await unwrap(api.POST('/connectors', yamlBody(yaml)));
    const inst = await unwrap(
      api.POST('/connector_instances', {
        body: { connector_id: connector.id, name: 'auto', base_url: prod.url, credentials: { api_key: 'prod-key' } },
      }),
    );
    expect(inst.mcp_server_id).toEqual(expect.any(String));
    const server = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: inst.mcp_server_id! } } }));
    expect(server).toMatchObject({ name: 'auto_tickets', connectorInstanceId: inst.id });
    expect(server.tools).toEqual(['auto_search_tickets', 'auto_get_ticket', 'auto_create_ticket']);
    const client = await connect(server.url);
    expect(client.getServerVersion()?.name).toBe('auto_tickets');
    expect(client.getInstructions()).toBe('Auto ticket tools');
    await client.close();

    const optOut = await unwrap(
      api.POST('/connector_instances', {
        body: {
          connector_id: connector.id,
          name: 'auto-2',
          base_url: prod.url,
          credentials: { api_key: 'prod-key' },
          createServer: false,
        },
      }),
    );
    expect(optOut.mcp_server_id).toBeNull();

    // `server_name` is taken by the first instance's server: the next instance gets its own (ADR 0024), and
    // the instance, its server and the SMART servers' new versions commit together.
    const smart = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: 'off-smart' } } }));
    const versionBefore = smart.catalogVersion;
    const third = await unwrap(
      api.POST('/connector_instances', {
        body: { connector_id: connector.id, name: 'auto-3', base_url: prod.url, credentials: { api_key: 'prod-key' } },
      }),
    );
    expect(third).toMatchObject({ mcp_server_id: expect.any(String), mcp_server_name: 'auto_tickets-auto-3' });
    expect(
      await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: third.mcp_server_id! } } })),
    ).toMatchObject({ name: 'auto_tickets-auto-3', connectorInstanceId: third.id, fromDescriptor: true });
    expect((await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: smart.id } } }))).catalogVersion).toBe(
      versionBefore + 1,
    );

    // A descriptor update updates the server it created.
    await unwrap(
      api.PUT('/connectors/{id}', {
        params: { path: { id: connector.id } },
        ...yamlBody(yaml.replace('"Auto ticket tools"', '"Auto ticket tools, revised"')),
      }),
    );
    await waitFor(
      'the new instructions',
      async () => {
        const c = await connect(server.url);
        const text = c.getInstructions();
        await c.close();
        return text === 'Auto ticket tools, revised';
      },
      PROPAGATION_DEADLINE_MS,
    );
  });
});

describe('mcp_config: a server_name that is not a slug', () => {
  it('names the server by its slug; initialize and /config answer with server_name as written', async () => {
    const yaml = variant('tickets-desk', 'desk_', { enabled: true, name: 'Ticket Desk', description: 'Desk tools' });
    const connector = await unwrap(api.POST('/connectors', yamlBody(yaml)));
    const inst = await unwrap(
      api.POST('/connector_instances', {
        body: { connector_id: connector.id, name: 'desk', base_url: prod.url, credentials: { api_key: 'prod-key' } },
      }),
    );
    const server = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: inst.mcp_server_id! } } }));
    expect(server.name).toBe('ticket_desk');
    const config = await unwrap(api.GET('/mcp_manager/{id}/config', { params: { path: { id: 'ticket_desk' } } }));
    expect(config).toMatchObject({ serverInfo: { name: 'Ticket Desk' }, instructions: 'Desk tools' });
    const client = await connect(server.url);
    expect(client.getServerVersion()?.name).toBe('Ticket Desk');
    expect(client.getInstructions()).toBe('Desk tools');
    await client.close();
  });
});

describe('DELETE /api/v1/connectors/{id}', () => {
  it('is a 409 while instances use it; ?force=true deletes them first (and their generated servers)', async () => {
    const yaml = variant('tickets-gone', 'gone_', { enabled: true, name: 'gone_tickets', description: 'Gone' });
    const connector = await unwrap(api.POST('/connectors', yamlBody(yaml)));
    const inst = await unwrap(
      api.POST('/connector_instances', {
        body: { connector_id: connector.id, name: 'gone', base_url: prod.url, credentials: { api_key: 'prod-key' } },
      }),
    );
    const bound = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'gone-by-hand', mode: 'NORMAL', connectorInstanceId: inst.id } }),
    );
    const refused = await failure(unwrap(api.DELETE('/connectors/{id}', { params: { path: { id: connector.id } } })));
    expect(refused.status).toBe(409);
    await unwrap(api.DELETE('/connectors/{id}', { params: { path: { id: connector.id }, query: { force: 'true' } } }));
    expect(
      (await failure(unwrap(api.GET('/connectors/{id}', { params: { path: { id: connector.id } } })))).status,
    ).toBe(404);
    expect(
      (await failure(unwrap(api.GET('/connector_instances/{id}', { params: { path: { id: inst.id } } })))).status,
    ).toBe(404);
    expect(
      (await failure(unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: inst.mcp_server_id! } } })))).status,
    ).toBe(404);
    // A server the user bound to an instance is kept, without its tools, saying why.
    const handMade = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: bound.id } } }));
    expect(handMade.tools).toEqual([]);
    expect(handMade.warnings?.join('\n')).toContain('was deleted with its connector tickets-gone');
    // Without instances, a plain DELETE works.
    const lone = await unwrap(
      api.POST(
        '/connectors',
        yamlBody(variant('tickets-lone', 'lone_', { enabled: false, name: 'x', description: 'x' })),
      ),
    );
    await unwrap(api.DELETE('/connectors/{id}', { params: { path: { id: lone.id } } }));
  });
});

describe("a server's secrets", () => {
  it('are deleted with the server; replaced external headers are deleted once the new ones are stored', async () => {
    const server = await unwrap(
      api.POST('/mcp_manager', {
        body: {
          name: 'secretive',
          mode: 'NORMAL',
          externalMcpConfigs: [
            { name: 'far', url: 'http://127.0.0.1:9/mcp', headers: { authorization: 'Bearer one' } },
          ],
        },
      }),
    );
    await unwrap(
      api.PUT('/mcp_servers/{id}/secrets/{name}', {
        params: { path: { id: server.id, name: 'API_KEY' } },
        body: { value: 'workflow-secret' },
      }),
    );
    const { names, reader } = store();
    const owned = await names(`/servers/${server.id}/`);
    expect(owned).toHaveLength(2);
    const headers1 = owned.find((n) => n.includes('/external/far/'))!;
    expect(await reader.get(headers1)).toBe(JSON.stringify({ authorization: 'Bearer one' }));

    await unwrap(
      api.PATCH('/mcp_manager/{id}', {
        params: { path: { id: server.id } },
        body: {
          externalMcpConfigs: [
            { name: 'far', url: 'http://127.0.0.1:9/mcp', headers: { authorization: 'Bearer two' } },
          ],
        },
      }),
    );
    const replaced = await names(`/servers/${server.id}/external/`);
    expect(replaced).toHaveLength(1);
    expect(replaced[0]).not.toBe(headers1);
    expect(await reader.get(headers1)).toBeUndefined();
    expect(await reader.get(replaced[0]!)).toBe(JSON.stringify({ authorization: 'Bearer two' }));

    await unwrap(api.DELETE('/mcp_manager/{id}', { params: { path: { id: server.id } } }));
    expect(await names(`/servers/${server.id}/`)).toEqual([]);
    for (const name of [...owned, ...replaced]) expect(await reader.get(name)).toBeUndefined();
  });
});

describe('a key limited to servers', () => {
  it('pages through its servers only and addresses them by name', async () => {
    const make = (name: string) => unwrap(api.POST('/mcp_manager', { body: { name, mode: 'SMART' } }));
    const a = await make('limited-a');
    await make('limited-b');
    const c = await make('limited-c');
    const { key } = await unwrap(api.POST('/api_keys', { body: { name: 'limited', serverIds: [a.id, c.id] } }));
    const limited = createManagementClient(stack.controlPlaneUrl, key);
    const first = await unwrap(limited.GET('/mcp_manager', { params: { query: { limit: 1 } } }));
    expect(first.data.map((s) => s.id)).toEqual([a.id]);
    expect(first.pagination).toMatchObject({ total: 2, nextCursor: a.id });
    const second = await unwrap(limited.GET('/mcp_manager', { params: { query: { limit: 1, page: 2 } } }));
    expect(second.data.map((s) => s.id)).toEqual([c.id]);
    expect(second.pagination).toMatchObject({ total: 2, nextCursor: null });
    const byCursor = await unwrap(limited.GET('/mcp_manager', { params: { query: { limit: 1, cursor: a.id } } }));
    expect(byCursor.data.map((s) => s.id)).toEqual([c.id]);
    expect(byCursor.pagination.nextCursor).toBeNull();

    expect((await unwrap(limited.GET('/mcp_manager/{id}', { params: { path: { id: 'limited-a' } } }))).id).toBe(a.id);
    expect((await unwrap(limited.GET('/mcp_manager/{id}/config', { params: { path: { id: 'limited-c' } } }))).id).toBe(
      c.id,
    );
    expect(
      (await failure(unwrap(limited.GET('/mcp_manager/{id}', { params: { path: { id: 'limited-b' } } })))).status,
    ).toBe(404);
  });
});

/**
 * Seed 001's defaults and the instance's credential rules, each as the seed words it. A small descriptor
 * on the ticket system (`prod`), its `mcp_config` block written per case.
 */
describe('seed 001 defaults', () => {
  const seedDescriptor = (slug: string, mcpConfig: string) => `
metadata: { name: "Seed ${slug}", slug: ${slug}, version: "1.0.0" }
authentication:
  - type: api_key
    fields:
      - { key: api_key, field_type: secret, required: true, secret: true }
      - { key: region, field_type: string }
operations:
  - operation_id: create_issue
    endpoint: "https://tickets.internal.com/api/v1/tickets"
    method: POST
    auth_type_ref: api_key
    auth_headers: { X-API-Key: "{api_key}" }
    parameters:
      - { name: title, location: body, field_type: string, required: true }
      - { name: project_key, location: body, field_type: string, required: true }
      - { name: issue_type, location: body, field_type: string }
${mcpConfig}`;
  const mapping = `
    - operation_id: create_issue
      mcp_tool_name: seed_create_issue
      mcp_tool_description: "Create a new issue in a project"
      parameter_mappings:
        project_key: project
        issue_type: type`;

  async function instanceOf(connectorId: string, name: string) {
    return unwrap(
      api.POST('/connector_instances', {
        body: { connector_id: connectorId, name, base_url: prod.url, credentials: { api_key: 'prod-key' } },
      }),
    );
  }

  it('a connector instance missing a `required: true` credential field and naming an unknown one: 422 listing each', async () => {
    // Seed 001, authentication fields: `required: true` (api_key); the instance's credentials are the descriptor's fields.
    const res = await api.POST('/connector_instances', {
      body: { connector_id: connectorId, name: 'seed-creds', base_url: prod.url, credentials: { apikey: 'prod-key' } },
    });
    expect(res.response.status).toBe(422);
    const errors = (res.error as { errors: { path: string; message: string }[] }).errors;
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: '/credentials/api_key', message: 'credential "api_key" is required by the descriptor' },
        { path: '/credentials/apikey', message: 'the descriptor declares no credential field "apikey"' },
      ]),
    );
    expect(errors).toHaveLength(2);
    // Nothing was created.
    const listed = await unwrap(api.GET('/connector_instances'));
    expect(listed.data.map((i) => i.name)).not.toContain('seed-creds');
  });

  it('parameter_mappings rename a body parameter of a POST (`project_key: project`): the tool takes `project`, the API gets `project_key`', async () => {
    // Seed 001, "Parameter Mappings": `project_key: project  # connector param "project_key" → MCP param "project"`.
    const yaml = seedDescriptor(
      'seed-mapped',
      `mcp_config:
  enabled: true
  server_name: seed_mapped
  server_description: "Issues with agent-friendly parameter names"
  route_mappings:${mapping}`,
    );
    const connector = await unwrap(api.POST('/connectors', yamlBody(yaml)));
    expect(connector.tools).toEqual(['seed_create_issue']);
    const inst = await instanceOf(connector.id, 'seed-mapped');
    const server = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: inst.mcp_server_id! } } }));
    const client = await connect(server.url);
    try {
      const tool = (await client.listTools()).tools.find((t) => t.name === 'seed_create_issue')!;
      expect(Object.keys(tool.inputSchema.properties ?? {}).sort()).toEqual(['project', 'title', 'type']);
      expect([...(tool.inputSchema.required ?? [])].sort()).toEqual(['project', 'title']);
      const before = prod.requests.length;
      const result = await client.callTool({
        name: 'seed_create_issue',
        arguments: { title: 'Printer on fire', project: 'OPS', type: 'incident' },
      });
      expect(result.isError).toBeFalsy();
      expect(prod.requests.length).toBe(before + 1);
      expect(prod.requests.at(-1)).toMatchObject({
        method: 'POST',
        path: '/api/v1/tickets',
        body: { title: 'Printer on fire', project_key: 'OPS', issue_type: 'incident' },
      });
      expect(Object.keys(prod.requests.at(-1)!.body as object).sort()).toEqual(['issue_type', 'project_key', 'title']);
    } finally {
      await client.close();
    }
  });

  it('`enabled` left out means false: no operation is a tool, as with `enabled: false`', async () => {
    // Seed 001, "Configuration Fields": `enabled` | No | Whether MCP generation is active. Defaults to false.
    const yaml = seedDescriptor(
      'seed-unset',
      `mcp_config:
  server_name: seed_unset
  server_description: "Enabled is not written"
  route_mappings:${mapping.replace('seed_create_issue', 'seed_unset_create_issue')}`,
    );
    const connector = await unwrap(api.POST('/connectors', yamlBody(yaml)));
    expect(connector.tools).toEqual([]);
    const inst = await instanceOf(connector.id, 'seed-unset');
    expect(inst.mcp_server_id).toBeNull();
    // A server bound to it would answer every call "Unknown tool": refused, saying why, on create and on
    // update, and nothing is created or changed.
    const refused = await api.POST('/mcp_manager', {
      body: { name: 'seed-unset-bound', mode: 'NORMAL', connectorInstanceId: inst.id },
    });
    expect(refused.response.status).toBe(422);
    expect(refused.error?.errors).toEqual([
      { path: '/connectorInstanceId', message: expect.stringContaining('mcp_config.enabled: false') },
    ]);
    const other = await unwrap(api.POST('/mcp_manager', { body: { name: 'seed-unset-other', mode: 'NORMAL' } }));
    const update = await api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: other.id } },
      body: { connectorInstanceId: inst.id },
    });
    expect(update.response.status).toBe(422);
    expect(update.error?.errors?.[0]?.message).toContain('none of its operations is a tool');
    const servers = await unwrap(api.GET('/mcp_manager'));
    expect(servers.data.map((s) => s.name)).not.toContain('seed-unset-bound');
    expect(
      (await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: other.id } } }))).connectorInstanceId,
    ).toBeNull();
  });

  it('`enabled: true` with `route_mappings` left out means no tools (an empty list)', async () => {
    // Seed 001, "Configuration Fields": `route_mappings` | No | List of operation-to-tool mappings. Defaults to
    // empty list; "Selective Operation Exposure": only operations listed in route_mappings become MCP tools.
    const yaml = seedDescriptor(
      'seed-unmapped',
      `mcp_config:
  enabled: true
  server_name: seed_unmapped
  server_description: "No route mappings"`,
    );
    const connector = await unwrap(api.POST('/connectors', yamlBody(yaml)));
    expect(connector.tools).toEqual([]);
    const inst = await instanceOf(connector.id, 'seed-unmapped');
    const servers = [
      ...(inst.mcp_server_id
        ? [await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: inst.mcp_server_id } } }))]
        : []),
      await unwrap(
        api.POST('/mcp_manager', {
          body: { name: 'seed-unmapped-bound', mode: 'NORMAL', connectorInstanceId: inst.id },
        }),
      ),
    ];
    for (const s of servers) {
      expect(s.tools).toEqual([]);
      expect(await toolNames(s.url)).toEqual([]);
    }
  });
});
