import { webhookSecretName, type ConnectorDescriptor } from '@toolplane/contracts';
import { NotFoundError, ValidationError } from '@toolplane/errors';
import { credentialFields, rebaseUrl } from '@toolplane/openapi';
import { Prisma } from '../../generated/prisma/client.ts';
import { refuseIfWorkflowsUse } from '../../catalog/workflow-users.ts';
import { instanceServers } from '../../catalog/instance-servers.ts';
import { credentialSecretName, credentialSecretPrefix } from '../../catalog/secret-names.ts';
import { isUuid } from '../../db/ids.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { createInstance } from './create.ts';
import { present } from './present.ts';
import { credentialIssues } from './credentials.ts';
import { refuseInstanceOriginChange } from './field-powers.ts';
import type { CreateInstanceBody, UpdateInstanceBody } from './schemas.ts';

/** The workspace's instance `id` with its connector, or a 404. */
async function instanceWithConnector({ db }: ControlPlaneDeps, id: string, workspaceId: string) {
  const row = isUuid(id)
    ? await db.connectorInstance.findFirst({
        where: { id, workspaceId },
        include: { connector: true },
      })
    : null;
  if (!row) throw new NotFoundError('connector instance', id);
  return row;
}

/**
 * `POST /connector_instances`: an instance of one of the workspace's connectors, its credentials (checked against the
 * descriptor's fields) and, when the connector's `mcp_config` enables it, its own MCP server.
 */
export async function createConnectorInstance(deps: ControlPlaneDeps, { body, caller }: Input<CreateInstanceBody>) {
  const created = await createInstance(deps, caller.workspaceId, body);
  return present(created.instance, created.server);
}

/** `GET /connector_instances`: the workspace's instances, oldest first, each with its generated server. */
export async function listConnectorInstances({ db }: ControlPlaneDeps, { caller }: Input) {
  const rows = await db.connectorInstance.findMany({
    where: { workspaceId: caller.workspaceId },
    orderBy: { createdAt: 'asc' },
  });
  const servers = await instanceServers(
    db,
    rows.map((r) => r.id),
  );
  return { data: rows.map((row) => present(row, servers.get(row.id))) };
}

/** `GET /connector_instances/{id}`. */
export async function getConnectorInstance({ db }: ControlPlaneDeps, { params, caller }: Input) {
  const id = params.id!;
  const row = isUuid(id)
    ? await db.connectorInstance.findFirst({ where: { id, workspaceId: caller.workspaceId } })
    : null;
  if (!row) throw new NotFoundError('connector instance', id);
  return present(row, (await instanceServers(db, [row.id])).get(row.id));
}

/**
 * `PATCH /connector_instances/{id}`: credential or base URL changes: new secret values, then a new catalog version for
 * every server using the instance, and a message telling workers to drop cached values (a credential update is never
 * served stale).
 */
export async function updateConnectorInstance(
  deps: ControlPlaneDeps,
  { body, params, caller }: Input<UpdateInstanceBody>,
) {
  const { db, secrets, catalog } = deps;
  const { workspaceId } = caller;
  const row = await instanceWithConnector(deps, params.id!, workspaceId);
  // Where its stored credentials go is chosen only by someone who may write them (ADR 0073).
  refuseInstanceOriginChange(caller, row, body);
  const given = body.credentials ?? {};
  const issues = credentialIssues(
    credentialFields(row.connector.descriptor as ConnectorDescriptor),
    given,
    row.credentialKeys,
  );
  if (issues.length > 0) throw new ValidationError('the connector instance update is invalid', issues);
  for (const [key, value] of Object.entries(given))
    await secrets.put(credentialSecretName(workspaceId, row.id, key), value);
  if (body.webhook_secret) await secrets.put(webhookSecretName(workspaceId, row.id), body.webhook_secret);
  const changed = Object.keys(given).length > 0 || body.webhook_secret !== undefined;
  const { result: updated } = await catalog.change({ instanceIds: [row.id], workspaceId }, async (tx) => ({
    result: await tx.connectorInstance.update({
      where: { id: row.id },
      data: {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.base_url !== undefined ? { baseUrl: body.base_url } : {}),
        ...(body.oauth_urls !== undefined ? { oauthUrls: body.oauth_urls ?? Prisma.DbNull } : {}),
        credentialKeys: [...new Set([...row.credentialKeys, ...Object.keys(given)])],
      },
    }),
    secretsChanged: changed ? [credentialSecretPrefix(workspaceId, row.id)] : [],
  }));
  return present(updated, (await instanceServers(db, [updated.id])).get(updated.id));
}

/**
 * `POST /connector_instances/{id}/test`: runs the descriptor's test_endpoint with this instance's credentials, from the
 * worker (the control plane never calls customer APIs), and reports what the upstream answered.
 */
export async function testConnectorInstance(deps: ControlPlaneDeps, { params, caller: { workspaceId } }: Input) {
  const { tasks } = deps;
  const row = await instanceWithConnector(deps, params.id!, workspaceId);
  const descriptor = row.connector.descriptor as ConnectorDescriptor;
  const auth = descriptor.authentication.find((a) => a.test_endpoint);
  if (!auth?.test_endpoint) {
    throw new ValidationError('the connector has no test endpoint', [
      { path: '/authentication', message: 'no authentication method declares a test_endpoint' },
    ]);
  }
  // The test request authenticates like the operations using this authentication method.
  const headers =
    descriptor.operations.find(
      (o) =>
        (o.auth_type_ref ?? descriptor.authentication[0]?.type) === auth.type && Object.keys(o.auth_headers).length > 0,
    )?.auth_headers ?? {};
  const referenced = new Set(
    Object.values(headers).flatMap((t) => [...t.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!)),
  );
  const secretNames = Object.fromEntries(
    row.credentialKeys.filter((k) => referenced.has(k)).map((k) => [k, credentialSecretName(workspaceId, row.id, k)]),
  );
  const result = await tasks.testConnector({
    v: 1,
    taskId: crypto.randomUUID(),
    kind: 'connector.test',
    method: auth.test_endpoint.method,
    url: rebaseUrl(auth.test_endpoint.url, row.baseUrl ?? undefined),
    headers,
    secrets: secretNames,
    expectedStatus: auth.test_endpoint.expected_status,
    deadlineAt: Date.now() + 30_000,
    replyTo: tasks.clientId,
  });
  return {
    passed: result.passed,
    status: result.status ?? null,
    expected_status: result.expectedStatus,
    duration_ms: Math.round(result.durationMs),
    ...(result.error ? { error: result.error } : {}),
  };
}

/**
 * `DELETE /connector_instances/{id}`: the server generated for it is deleted with it; other servers built on it are
 * detached in the same transaction: they lose its tools (with a warning) and never fall back to another instance's.
 * After the commit, people's own accounts end as a disconnect ends them (revoked with its OAuth app, read now), then
 * its credentials go.
 */
export async function deleteConnectorInstance(
  { db, catalog, people }: ControlPlaneDeps,
  { params, caller: { workspaceId } }: Input,
): Promise<void> {
  const id = params.id!;
  const row = isUuid(id) ? await db.connectorInstance.findFirst({ where: { id, workspaceId } }) : null;
  if (!row) throw new NotFoundError('connector instance', id);
  const apps = await people.appsOf(workspaceId, [row.id]);
  const { result } = await catalog.change({ instanceIds: [row.id], workspaceId }, async (tx) => {
    await refuseIfWorkflowsUse(tx, workspaceId, [{ kind: 'connector_instance', id: row.id, name: row.name }]);
    const { serverIds, removedServers, prefixes, connections } = await catalog.deleteInstancesWrites(
      tx,
      [row],
      'was deleted',
    );
    return { result: { prefixes, connections }, serverIds, removedServers };
  });
  await people.endForInstances(workspaceId, apps, result.connections);
  await catalog.deleteSecretPrefixes(result.prefixes);
}
