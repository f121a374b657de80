import { HttpUrl, humanName } from '@toolplane/contracts';
import { z } from 'zod';

/**
 * Where people's OAuth flows go instead of the document's endpoints (a self-hosted provider such as GitHub
 * Enterprise Server, a provider's sandbox, a local mock); each endpoint not named keeps the document's.
 */
export const OAuthUrls = z
  .strictObject({
    authorization_url: HttpUrl.optional(),
    token_url: HttpUrl.optional(),
    revocation_url: HttpUrl.optional(),
  })
  .meta({ id: 'InstanceOAuthUrls' });

export const CreateInstanceBody = z.strictObject({
  connector_id: z.string().min(1),
  name: humanName(100),
  /** Replaces the origin of every endpoint of the descriptor (sandbox, self-hosted, the local example). */
  base_url: HttpUrl.optional(),
  oauth_urls: OAuthUrls.optional(),
  credentials: z.record(z.string(), z.string()).default({}),
  /**
   * The secret the provider signs its deliveries to the instance's inbound URL with (MCP Events: GitHub's webhook
   * secret, Stripe's `whsec_…`, Slack's signing secret, a Standard Webhooks `whsec_…`); write-only, kept in the
   * secrets store and read by workers only.
   */
  webhook_secret: z.string().min(8).max(1024).optional(),
  /**
   * `mcp_config.enabled: true` creates the instance's MCP server too (named from `server_name` and the
   * instance: catalog/instance-servers.ts); false opts out (until the connector's MCP is enabled again).
   */
  createServer: z.boolean().default(true),
});

export const UpdateInstanceBody = z.strictObject({
  name: humanName(100).optional(),
  base_url: HttpUrl.nullable().optional(),
  oauth_urls: OAuthUrls.nullable().optional(),
  /** Replaces the given fields; fields not named keep their stored values. */
  credentials: z.record(z.string(), z.string()).optional(),
  /**
   * The secret the provider signs its deliveries to the instance's inbound URL with (MCP Events: GitHub's webhook
   * secret, Stripe's `whsec_…`, Slack's signing secret, a Standard Webhooks `whsec_…`); write-only, kept in the
   * secrets store and read by workers only.
   */
  webhook_secret: z.string().min(8).max(1024).optional(),
});

export type CreateInstanceBody = z.output<typeof CreateInstanceBody>;
export type UpdateInstanceBody = z.output<typeof UpdateInstanceBody>;
