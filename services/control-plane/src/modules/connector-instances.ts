import { HttpUrl, humanName, type ConnectorDescriptor } from '@toolplane/contracts';
import { NotFoundError, ValidationError } from '@toolplane/errors';
import { credentialFields, rebaseUrl } from '@toolplane/openapi';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import type { SecretsWriter } from '@toolplane/secrets';
import { type Router } from 'express';
import { z } from 'zod';
import { createInstanceServer, generating, instanceServers } from '../catalog/instance-servers.ts';
import { credentialSecretName, credentialSecretPrefix } from '../catalog/secret-names.ts';
import type { CatalogService } from '../catalog/service.ts';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { jsonBody } from '../http/body.ts';
import { isUuid } from './ids.ts';
import type { PeopleConnections } from './people-connections.ts';
import { apiRouter } from '../http/route-access.ts';

export const CreateInstanceBody = z.strictObject({
  connector_id: z.string().min(1),
  name: humanName(100),
  /** Replaces the origin of every endpoint of the descriptor (sandbox, self-hosted, the local example). */
  base_url: HttpUrl.optional(),
  credentials: z.record(z.string(), z.string()).default({}),
  /**
   * `mcp_config.enabled: true` creates the instance's MCP server too (named from `server_name` and the
   * instance: catalog/instance-servers.ts); false opts out (until the connector's MCP is enabled again).
   */
  createServer: z.boolean().default(true),
});

export const UpdateInstanceBody = z.strictObject({
  name: humanName(100).optional(),
  base_url: HttpUrl.nullable().optional(),
  /** Replaces the given fields; fields not named keep their stored values. */
  credentials: z.record(z.string(), z.string()).optional(),
});

type Field = ReturnType<typeof credentialFields>[number];

export function credentialIssues(fields: Field[], given: Record<string, string>, stored: string[] = []) {
  return [
    ...fields
      .filter((f) => f.required && !given[f.key] && !stored.includes(f.key))
      .map((f) => ({ path: `/credentials/${f.key}`, message: `credential "${f.key}" is required by the descriptor` })),
    ...Object.keys(given)
      .filter((k) => !fields.some((f) => f.key === k))
      .map((k) => ({ path: `/credentials/${k}`, message: `the descriptor declares no credential field "${k}"` })),
  ];
}

export function connectorInstancesRouter(
  db: Db,
  secrets: SecretsWriter,
  catalog: CatalogService,
  tasks: DataPlaneTaskClient,
  maxBodyBytes: number,
  people: PeopleConnections,
): Router {
  const r = apiRouter();
  r.use(jsonBody(maxBodyBytes));
  r.post('/', async (req, res) => {
    const body = CreateInstanceBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
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
    // Secrets first, row second; a failed insert removes what was written (nothing half-saved).
    for (const key of keys) await secrets.put(credentialSecretName(workspaceId, id, key), body.credentials[key]!);
    const mcp = body.createServer ? generating(connector.descriptor) : undefined;
    // The instance, its MCP server (mcp_config; never a 409: the name rule takes the next free name) and
    // the new catalog versions of the servers it changes commit together; a failure deletes the credentials
    // written above (nothing half-saved).
    const { result: created } = await catalog.change(
      { workspaceId },
      async (tx) => {
        const instance = await tx.connectorInstance.create({
          data: {
            id,
            workspaceId,
            connectorId: connector.id,
            name: body.name,
            baseUrl: body.base_url ?? null,
            credentialKeys: keys,
          },
        });
        if (!mcp) return { result: { instance, server: undefined as { id: string; name: string } | undefined } };
        const server = await createInstanceServer(tx, workspaceId, instance, mcp);
        return { result: { instance, server }, serverIds: [server.id] };
      },
      { cleanupOnFailure: keys.map((key) => credentialSecretName(workspaceId, id, key)) },
    );
    res.status(201).json(present(created.instance, created.server));
  });
  r.get('/', async (req, res) => {
    const rows = await db.connectorInstance.findMany({
      where: { workspaceId: caller(req).workspaceId },
      orderBy: { createdAt: 'asc' },
    });
    const servers = await instanceServers(
      db,
      rows.map((r) => r.id),
    );
    res.json({ data: rows.map((row) => present(row, servers.get(row.id))) });
  });
  r.get('/:id', async (req, res) => {
    const row = isUuid(req.params.id)
      ? await db.connectorInstance.findFirst({ where: { id: req.params.id, workspaceId: caller(req).workspaceId } })
      : null;
    if (!row) throw new NotFoundError('connector instance', req.params.id);
    res.json(present(row, (await instanceServers(db, [row.id])).get(row.id)));
  });

  // Credential or base URL changes: new secret values, then a new catalog version for every server
  // using the instance, and a message telling workers to drop cached values (a credential update is never served stale).
  r.patch('/:id', async (req, res) => {
    const body = UpdateInstanceBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    const row = isUuid(req.params.id)
      ? await db.connectorInstance.findFirst({
          where: { id: req.params.id, workspaceId },
          include: { connector: true },
        })
      : null;
    if (!row) throw new NotFoundError('connector instance', req.params.id);
    const given = body.credentials ?? {};
    const issues = credentialIssues(
      credentialFields(row.connector.descriptor as ConnectorDescriptor),
      given,
      row.credentialKeys,
    );
    if (issues.length > 0) throw new ValidationError('the connector instance update is invalid', issues);
    for (const [key, value] of Object.entries(given))
      await secrets.put(credentialSecretName(workspaceId, row.id, key), value);
    const { result: updated } = await catalog.change({ instanceIds: [row.id], workspaceId }, async (tx) => ({
      result: await tx.connectorInstance.update({
        where: { id: row.id },
        data: {
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.base_url !== undefined ? { baseUrl: body.base_url } : {}),
          credentialKeys: [...new Set([...row.credentialKeys, ...Object.keys(given)])],
        },
      }),
      secretsChanged: Object.keys(given).length > 0 ? [credentialSecretPrefix(workspaceId, row.id)] : [],
    }));
    res.json(present(updated, (await instanceServers(db, [updated.id])).get(updated.id)));
  });

  // Runs the descriptor's test_endpoint with this instance's credentials, from the worker (the
  // control plane never calls customer APIs), and reports what the upstream answered.
  r.post('/:id/test', async (req, res) => {
    const { workspaceId } = caller(req);
    const row = isUuid(req.params.id)
      ? await db.connectorInstance.findFirst({
          where: { id: req.params.id, workspaceId },
          include: { connector: true },
        })
      : null;
    if (!row) throw new NotFoundError('connector instance', req.params.id);
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
          (o.auth_type_ref ?? descriptor.authentication[0]?.type) === auth.type &&
          Object.keys(o.auth_headers).length > 0,
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
    res.json({
      passed: result.passed,
      status: result.status ?? null,
      expected_status: result.expectedStatus,
      duration_ms: Math.round(result.durationMs),
      ...(result.error ? { error: result.error } : {}),
    });
  });

  r.delete('/:id', async (req, res) => {
    const { workspaceId } = caller(req);
    const row = isUuid(req.params.id)
      ? await db.connectorInstance.findFirst({ where: { id: req.params.id, workspaceId } })
      : null;
    if (!row) throw new NotFoundError('connector instance', req.params.id);
    // The server generated for it is deleted with it; other servers built on it are detached in the same
    // transaction: they lose its tools (with a warning) and never fall back to another instance's. After the
    // commit, people's own accounts end as a disconnect ends them (revoked with its OAuth app, read now), then its
    // credentials go.
    const apps = await people.appsOf(workspaceId, [row.id]);
    const { result } = await catalog.change({ instanceIds: [row.id], workspaceId }, async (tx) => {
      const { serverIds, removedServers, prefixes, connections } = await catalog.deleteInstancesWrites(
        tx,
        [row],
        'was deleted',
      );
      return { result: { prefixes, connections }, serverIds, removedServers };
    });
    await people.endForInstances(workspaceId, apps, result.connections);
    await catalog.deleteSecretPrefixes(result.prefixes);
    res.status(204).end();
  });
  return r;
}

/** An instance as the API shows it, with the MCP server generated for it (`server`; none: nulls). */
function present(
  row: {
    id: string;
    connectorId: string;
    name: string;
    baseUrl: string | null;
    credentialKeys: string[];
    createdAt: Date;
    updatedAt: Date;
  },
  server: { id: string; name: string } | undefined,
) {
  return {
    id: row.id,
    connector_id: row.connectorId,
    name: row.name,
    base_url: row.baseUrl,
    credential_keys: row.credentialKeys,
    mcp_server_id: server?.id ?? null,
    mcp_server_name: server?.name ?? null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
