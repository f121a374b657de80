import { z } from 'zod';
import { CreatedConnectorInstance } from '../connector-instances/openapi.ts';
import { CuratedAuth } from './schemas.ts';

/** A curated connector as `GET /connectors/curated` lists it (handlers.ts). */
export const CuratedConnector = z
  .strictObject({
    slug: z.string(),
    name: z.string(),
    version: z.string(),
    description: z.string(),
    tools: z
      .array(z.strictObject({ name: z.string(), description: z.string() }))
      .describe('The MCP tools an instance gives, as written for a model.'),
    auth: z
      .array(CuratedAuth)
      .min(1)
      .describe('The authentication it offers, the default first: people’s accounts where the provider has OAuth.'),
    credentials: z
      .strictObject({ user_oauth: z.array(z.string()).optional(), token: z.array(z.string()).optional() })
      .describe(
        'The credentials an instance of each variant takes: the OAuth app (`client_id`, `client_secret`) or the ' +
          'token’s field (`slack_token`, …).',
      ),
    connectorId: z
      .uuid()
      .nullable()
      .describe('The workspace’s connector of this slug (the newest), null when it has not been added.'),
    update: z
      .strictObject({ from: z.string(), to: z.string() })
      .nullable()
      .describe(
        'This Toolplane ships another version than the workspace’s connector: preview it with ' +
          '`POST /connectors/curated/{slug}/upgrade?dry_run=true`, apply it without. Never applied by itself.',
      ),
  })
  .meta({ id: 'CuratedConnector' });

/** What `POST /connectors/curated/{slug}/setup` answers. */
export const CuratedConnectorSetup = z
  .strictObject({
    connector: z.strictObject({
      id: z.uuid(),
      slug: z.string(),
      version: z.string(),
      added: z.boolean().describe('False when the workspace had added it already.'),
    }),
    instance: CreatedConnectorInstance,
    server: z
      .strictObject({ id: z.uuid(), name: z.string(), url: z.string().describe('Its MCP endpoint.') })
      .nullable(),
  })
  .meta({ id: 'CuratedConnectorSetup' });
