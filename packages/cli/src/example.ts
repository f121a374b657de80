import { unwrap, type components, type ManagementClient } from '@toolplane/client';
import { ticketSystemDescriptorYaml } from '@toolplane/examples';

export interface RegisteredExample {
  connectorId: string;
  instanceId: string;
  serverId: string;
  mcpUrl: string;
  tools: string[];
}

/**
 * Registers the seed-001 ticket-system descriptor, binds it to a running ticket system
 * (`upstreamUrl`, `upstreamApiKey`) and creates a NORMAL-mode MCP server exposing its tools.
 * Requests go through `api`, a typed client (@toolplane/client); a failed one throws its `ApiError`.
 */
export async function registerTicketExample(
  api: ManagementClient,
  upstreamUrl: string,
  upstreamApiKey: string,
  serverName = 'ticket-system',
  descriptorYaml = ticketSystemDescriptorYaml,
): Promise<RegisteredExample> {
  const connectors = await unwrap(api.GET('/connectors'));
  // The descriptor's own version: a changed copy (a tool's cost, another version) is a connector of its own.
  const version = /^\s*version:\s*"([^"]+)"/m.exec(descriptorYaml)?.[1] ?? '1.0.0';
  const existing = connectors.data.find((c) => c.slug === 'ticket-system' && c.version === version);
  const connector =
    existing ??
    (await unwrap(
      api.POST('/connectors', {
        // The descriptor's YAML text as is: the generated body type is the parsed document, and
        // openapi-fetch would JSON-encode it without the identity `bodySerializer`.
        body: descriptorYaml as unknown as components['schemas']['ConnectorSource'],
        bodySerializer: (body) => body as unknown as string,
        headers: { 'content-type': 'application/yaml' },
      }),
    ));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: {
        createServer: false,
        connector_id: connector.id,
        name: `${serverName}-instance`,
        base_url: upstreamUrl,
        credentials: { api_key: upstreamApiKey },
      },
    }),
  );
  const server = await unwrap(
    api.POST('/mcp_manager', {
      // `isPublic` is left to the control plane's default (false); the generated type makes defaulted fields required.
      body: {
        name: serverName,
        description: 'Internal ticket management tools',
        mode: 'NORMAL',
        connectorInstanceId: instance.id,
      } as components['schemas']['CreateServerBody'],
    }),
  );
  return {
    connectorId: connector.id,
    instanceId: instance.id,
    serverId: server.id,
    mcpUrl: server.url,
    tools: server.tools ?? [],
  };
}

/**
 * The example a previous start on the same data registered (the server `serverName`, every /mcp_manager route takes a
 * name), pointed at this run's ticket system: its instance gets `upstreamUrl` and `upstreamApiKey` (one PATCH, a new
 * catalog version). Undefined when there is no such server, or it has no connector instance.
 */
export async function reuseTicketExample(
  api: ManagementClient,
  upstreamUrl: string,
  upstreamApiKey: string,
  serverName = 'ticket-system',
): Promise<RegisteredExample | undefined> {
  const found = await api.GET('/mcp_manager/{id}', { params: { path: { id: serverName } } });
  if (found.response.status === 404) return undefined;
  const server = await unwrap(Promise.resolve(found));
  if (!server.connectorInstanceId) return undefined;
  const instance = await unwrap(
    api.PATCH('/connector_instances/{id}', {
      params: { path: { id: server.connectorInstanceId } },
      body: { base_url: upstreamUrl, credentials: { api_key: upstreamApiKey } },
    }),
  );
  return {
    connectorId: instance.connector_id,
    instanceId: instance.id,
    serverId: server.id,
    mcpUrl: server.url,
    tools: server.tools ?? [],
  };
}
