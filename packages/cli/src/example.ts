import { createManagementClient, type components } from '@toolplane/client';
import { ticketSystemDescriptorYaml } from '@toolplane/examples';
import { ApiError, type ControlPlaneClient } from './api-client.ts';

export interface RegisteredExample {
  connectorId: string;
  instanceId: string;
  serverId: string;
  mcpUrl: string;
  tools: string[];
}

/** The body of a 2xx answer of the typed client, else the `ApiError` `ControlPlaneClient` would throw. */
async function ok<D>(call: Promise<{ data?: D; error?: unknown; response: Response }>): Promise<D> {
  const { data, error, response } = await call;
  if (!response.ok) throw new ApiError(response.status, error);
  return data as D;
}

/**
 * Registers the seed-001 ticket-system descriptor, binds it to a running ticket system
 * (`upstreamUrl`, `upstreamApiKey`) and creates a NORMAL-mode MCP server exposing its tools.
 * Requests go through the typed client (@toolplane/client) with `client`'s URL and key.
 */
export async function registerTicketExample(
  client: ControlPlaneClient,
  upstreamUrl: string,
  upstreamApiKey: string,
  serverName = 'ticket-system',
  descriptorYaml = ticketSystemDescriptorYaml,
): Promise<RegisteredExample> {
  const api = createManagementClient(client.baseUrl, client.apiKey);
  const connectors = await ok(api.GET('/connectors'));
  const existing = connectors.data.find((c) => c.slug === 'ticket-system' && c.version === '1.0.0');
  const connector =
    existing ??
    (await ok(
      api.POST('/connectors', {
        // The descriptor's YAML text as is: the generated body type is the parsed document, and
        // openapi-fetch would JSON-encode it without the identity `bodySerializer`.
        body: descriptorYaml as unknown as components['schemas']['ConnectorSource'],
        bodySerializer: (body) => body as unknown as string,
        headers: { 'content-type': 'application/yaml' },
      }),
    ));
  const instance = await ok(
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
  const server = await ok(
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
