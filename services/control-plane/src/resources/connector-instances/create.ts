import { webhookSecretName, type ConnectorDescriptor } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import { credentialFields } from '@toolplane/openapi';
import { createInstanceServer, generating } from '../../catalog/instance-servers.ts';
import { credentialSecretName } from '../../catalog/secret-names.ts';
import { isUuid } from '../../db/ids.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { credentialIssues } from './credentials.ts';
import type { CreateInstanceBody } from './schemas.ts';

/**
 * An instance of one of the workspace's connectors with its credentials (checked against the descriptor's fields)
 * and, when the connector's `mcp_config` enables it and `createServer` is set, its own MCP server, exposing
 * `selectedTools` when given (else every tool). Secrets first, rows second: a failure removes what was written.
 */
export async function createInstance(
  { db, secrets, catalog }: Pick<ControlPlaneDeps, 'db' | 'secrets' | 'catalog'>,
  workspaceId: string,
  body: CreateInstanceBody,
  selectedTools?: string[],
) {
  const connector = isUuid(body.connector_id)
    ? await db.connector.findFirst({ where: { id: body.connector_id, workspaceId } })
    : null;
  if (!connector)
    throw new ValidationError('the connector instance is invalid', [
      { path: '/connector_id', message: `no connector ${body.connector_id} in this workspace` },
    ]);
  const fields = credentialFields(connector.descriptor as ConnectorDescriptor);
  const issues = credentialIssues(fields, body.credentials);
  if (issues.length > 0) throw new ValidationError('the connector instance is invalid', issues);

  const id = crypto.randomUUID();
  const keys = Object.keys(body.credentials);
  for (const key of keys) await secrets.put(credentialSecretName(workspaceId, id, key), body.credentials[key]!);
  if (body.webhook_secret) await secrets.put(webhookSecretName(workspaceId, id), body.webhook_secret);
  const generated = body.createServer ? generating(connector.descriptor) : undefined;
  const mcp = generated && selectedTools ? { ...generated, selectedTools } : generated;
  // The instance, its MCP server (mcp_config; never a 409: the name rule takes the next free name) and
  // the new catalog versions of the servers it changes commit together; a failure deletes the credentials
  // written above (nothing half-saved).
  const { result } = await catalog.change(
    { workspaceId },
    async (tx) => {
      const instance = await tx.connectorInstance.create({
        data: {
          id,
          workspaceId,
          connectorId: connector.id,
          name: body.name,
          baseUrl: body.base_url ?? null,
          ...(body.oauth_urls ? { oauthUrls: body.oauth_urls } : {}),
          credentialKeys: keys,
        },
      });
      if (!mcp) return { result: { instance, server: undefined as { id: string; name: string } | undefined } };
      const server = await createInstanceServer(tx, workspaceId, instance, mcp);
      return { result: { instance, server }, serverIds: [server.id] };
    },
    {
      cleanupOnFailure: [
        ...keys.map((key) => credentialSecretName(workspaceId, id, key)),
        ...(body.webhook_secret ? [webhookSecretName(workspaceId, id)] : []),
      ],
    },
  );
  return result;
}
