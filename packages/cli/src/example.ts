import { ticketSystemDescriptorYaml } from '@toolplane/examples';
import { ControlPlaneClient } from './api-client.ts';

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
 */
export async function registerTicketExample(
  client: ControlPlaneClient,
  upstreamUrl: string,
  upstreamApiKey: string,
  serverName = 'ticket-system',
  descriptorYaml = ticketSystemDescriptorYaml,
): Promise<RegisteredExample> {
  const connectors = await client.request<{ data: { id: string; slug: string; version: string }[] }>(
    'GET',
    '/connectors',
  );
  const existing = connectors.data.find((c) => c.slug === 'ticket-system' && c.version === '1.0.0');
  const connector =
    existing ?? (await client.request<{ id: string }>('POST', '/connectors', descriptorYaml, 'application/yaml'));
  const instance = await client.request<{ id: string }>('POST', '/connector_instances', {
    createServer: false,
    connector_id: connector.id,
    name: `${serverName}-instance`,
    base_url: upstreamUrl,
    credentials: { api_key: upstreamApiKey },
  });
  const server = await client.request<{ id: string; url: string; tools: string[] }>('POST', '/mcp_manager', {
    name: serverName,
    description: 'Internal ticket management tools',
    mode: 'NORMAL',
    connectorInstanceId: instance.id,
  });
  return {
    connectorId: connector.id,
    instanceId: instance.id,
    serverId: server.id,
    mcpUrl: server.url,
    tools: server.tools,
  };
}
