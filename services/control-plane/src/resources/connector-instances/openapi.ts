import { z } from 'zod';
import { OAuthUrls } from './schemas.ts';

const timestamp = z.iso.datetime();

const instanceShape = {
  id: z.uuid(),
  connector_id: z.uuid(),
  name: z.string(),
  base_url: z.string().nullable().describe('Replaces the origin of every endpoint; null: the descriptor’s own.'),
  oauth_urls: OAuthUrls.nullable().describe(
    'Where people’s OAuth flows go instead of the document’s endpoints; null: the document’s own.',
  ),
  credential_keys: z.array(z.string()).describe('The credential fields set (the values are never returned).'),
  mcp_server_id: z
    .uuid()
    .nullable()
    .describe(
      'The MCP server generated for it (its connector’s `mcp_config.enabled: true`; deleted with the instance); ' +
        'null: none (MCP not enabled, or `createServer: false`).',
    ),
  mcp_server_name: z
    .string()
    .nullable()
    .describe(
      'That server’s name: the first free one of `<server_name>`, `<server_name>-<instance>`, ' +
        '`<server_name>-<instance>-2`, … (`server_name` and the instance’s name as slugs), so the first instance ' +
        'gets `server_name` itself and the others their own; null: none.',
    ),
  createdAt: timestamp,
  updatedAt: timestamp,
};

/** A connector instance as the API shows it (`present` in connector-instances.ts). */
export const ConnectorInstance = z.strictObject(instanceShape).meta({ id: 'ConnectorInstance' });

/** What `POST /connector_instances` answers: the same as `ConnectorInstance` (a name kept for clients of it). */
export const CreatedConnectorInstance = z.strictObject(instanceShape).meta({ id: 'CreatedConnectorInstance' });

/** What `POST /connector_instances/{id}/test` reports. */
export const ConnectorTestResult = z
  .strictObject({
    passed: z.boolean(),
    status: z.number().int().nullable().describe('What the upstream answered; null when it did not answer.'),
    expected_status: z.number().int(),
    duration_ms: z.number().int(),
    error: z.string().optional().describe('Why it failed (never a credential value).'),
  })
  .meta({ id: 'ConnectorTestResult' });
