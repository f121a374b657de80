import {
  humanName,
  oauthConnectionView,
  redisKeys,
  userSecrets,
  type ConnectLink,
  type ConnectorDescriptor,
} from '@toolplane/contracts';
import { NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import { credentialFields } from '@toolplane/openapi';
import type { SecretsWriter } from '@toolplane/secrets';
import express, { type Router } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { jsonBody } from '../http/body.ts';
import type { RuntimePublisher } from '../publisher.ts';
import { userCredentialSecretName, userCredentialSecretPrefix } from '../catalog/secret-names.ts';
import { credentialIssues } from './connector-instances.ts';
import { isUuid } from './ids.ts';
import { connectionMarker, type PeopleConnections } from './people-connections.ts';
import { apiRouter } from '../http/route-access.ts';

/** Declared attributes: `$current_user.<name>` in workflows (`name` and `token` are reserved). */
const Attributes = z
  .record(
    z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,49}$/, 'must be 1-50 lower-case letters, digits, - and _')
      .refine((k) => k !== 'name' && k !== 'token', '"name" and "token" are reserved'),
    z.string().max(1000),
  )
  .refine((a) => Object.keys(a).length <= 50, 'at most 50 attributes');
export const CreateUserBody = z.object({ name: humanName(200), attributes: Attributes.optional() }).strict();
export const UpdateUserBody = z.object({ attributes: Attributes }).strict();
export const ConnectionBody = z.object({ credentials: z.record(z.string(), z.string()) }).strict();
export const SecretBody = z.object({ value: z.string().min(1).max(65_536) }).strict();
export const HeadersBody = z
  .object({ headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,100}$/), z.string().max(8192)) })
  .strict()
  .refine((b) => Object.keys(b.headers).length > 0, 'name at least one header');
const secretNamePattern = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
const externalNamePattern = /^[a-z0-9][a-z0-9_-]{0,49}$/;

/** A connection as the API shows it: an OAuth connection's status from what the worker recorded (no secret). */
function connectionView(
  row: { connectorInstanceId: string; kind: string; credentialKeys: string[]; createdAt: Date; updatedAt: Date },
  state: Record<string, string> | undefined,
) {
  const base = {
    connector_instance_id: row.connectorInstanceId,
    kind: row.kind === 'oauth' ? ('oauth' as const) : ('credentials' as const),
    credential_keys: row.credentialKeys,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
  return row.kind === 'oauth' ? { ...base, ...oauthConnectionView(state) } : base;
}

/**
 * External users: the end users of a workspace's app, named by it. Each can have its own
 * connection per connector instance: credentials pushed here, or their own account connected with a connect link
 * (ADR 0027); `x-username` on MCP requests makes tools run with that user's connection. The edge learns name → id
 * from a Redis hash published here.
 */
export function externalUsersRouter(opts: {
  db: Db;
  secrets: SecretsWriter;
  publisher: RuntimePublisher;
  redis: Redis;
  prefix: string;
  maxBodyBytes: number;
  /** Ends people's own-account connections (revoked at the provider through a worker) on disconnect and deletion. */
  people: PeopleConnections;
}): Router {
  const { db, secrets, publisher, redis, prefix, maxBodyBytes, people } = opts;
  const r = apiRouter();
  r.use(jsonBody(maxBodyBytes));
  const keys = redisKeys(prefix);
  const userByName = async (req: express.Request) => {
    const name = String(req.params.name);
    const user = await db.externalUser.findUnique({
      where: { workspaceId_name: { workspaceId: caller(req).workspaceId, name } },
    });
    if (!user) throw new NotFoundError('external user', name);
    return user;
  };

  r.post('/', async (req, res) => {
    const { name, attributes } = CreateUserBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    if (await db.externalUser.findUnique({ where: { workspaceId_name: { workspaceId, name } } })) {
      throw new UserError('resource.conflict', `an external user named "${name}" already exists`, { status: 409 });
    }
    const user = await db.$transaction(async (tx) => {
      const created = await tx.externalUser.create({ data: { workspaceId, name, attributes: attributes ?? {} } });
      await redis.hset(keys.userAttributes(workspaceId), created.id, JSON.stringify(attributes ?? {}));
      await redis.hset(keys.users(workspaceId), name, created.id);
      return created;
    });
    res.status(201).json({ id: user.id, name: user.name, attributes: user.attributes, createdAt: user.createdAt });
  });

  r.patch('/:name', async (req, res) => {
    const user = await userByName(req);
    const { attributes } = UpdateUserBody.parse(req.body ?? {});
    const updated = await db.externalUser.update({ where: { id: user.id }, data: { attributes } });
    await redis.hset(keys.userAttributes(user.workspaceId), user.id, JSON.stringify(attributes));
    res.json({ id: updated.id, name: updated.name, attributes: updated.attributes, createdAt: updated.createdAt });
  });

  r.get('/', async (req, res) => {
    const users = await db.externalUser.findMany({
      where: { workspaceId: caller(req).workspaceId },
      orderBy: { createdAt: 'asc' },
      include: { connections: { select: { connectorInstanceId: true } } },
    });
    res.json({
      data: users.map((u) => ({
        id: u.id,
        name: u.name,
        attributes: u.attributes,
        createdAt: u.createdAt,
        connections: u.connections.map((c) => c.connectorInstanceId),
      })),
    });
  });

  r.delete('/:name', async (req, res) => {
    const user = await userByName(req);
    const own = userSecrets.prefix(user.workspaceId, user.id);
    // Their own accounts end first, as a disconnect ends them (revoked at the provider): those listed, and any
    // tokens the store holds for them without a listing.
    const listed = await db.userConnection.findMany({ where: { userId: user.id, kind: 'oauth' } });
    const accounts = new Set(listed.map((c) => c.connectorInstanceId));
    for (const meta of await secrets.list(`${own}oauth/`)) {
      const named = userSecrets.parseOauth(meta.name);
      if (named) accounts.add(named.instanceId);
    }
    const apps = await people.appsOf(user.workspaceId, [...accounts]);
    for (const instanceId of accounts)
      await people.endAccount(user.workspaceId, user.id, instanceId, apps.get(instanceId));
    await db.$transaction(async (tx) => {
      await tx.externalUser.delete({ where: { id: user.id } });
      await redis.hdel(keys.users(user.workspaceId), user.name);
    });
    await redis.del(keys.userConnections(user.workspaceId, user.id));
    await redis.hdel(keys.userAttributes(user.workspaceId), user.id);
    // Everything else under the user's name: pushed credentials (also those an own account replaced), workflow
    // secrets, external MCP headers.
    for (const meta of await secrets.list(own)) await secrets.delete(meta.name);
    await publisher.secretsChanged(own);
    res.status(204).end();
  });

  r.get('/:name/connections', async (req, res) => {
    const user = await userByName(req);
    const rows = await db.userConnection.findMany({ where: { userId: user.id }, orderBy: { createdAt: 'asc' } });
    const data = [];
    for (const c of rows) {
      const state =
        c.kind === 'oauth'
          ? await redis.hgetall(
              keys.oauthConnection(userSecrets.oauth(user.workspaceId, user.id, c.connectorInstanceId)),
            )
          : undefined;
      data.push(connectionView(c, state));
    }
    res.json({ data });
  });

  // Creates or replaces the user's credentials for one connector instance.
  r.put('/:name/connections/:instanceId', async (req, res) => {
    const user = await userByName(req);
    const { credentials } = ConnectionBody.parse(req.body ?? {});
    const instanceId = String(req.params.instanceId);
    const instance = isUuid(instanceId)
      ? await db.connectorInstance.findFirst({
          where: { id: instanceId, workspaceId: user.workspaceId },
          include: { connector: true },
        })
      : null;
    if (!instance) throw new NotFoundError('connector instance', instanceId);
    const issues = credentialIssues(
      credentialFields(instance.connector.descriptor as ConnectorDescriptor),
      credentials,
    );
    if (issues.length > 0) throw new ValidationError('the connection is invalid', issues);
    // Checked before anything is written: a refused request stores nothing.
    const existing = await db.userConnection.findUnique({
      where: { userId_connectorInstanceId: { userId: user.id, connectorInstanceId: instance.id } },
    });
    if (existing?.kind === 'oauth')
      throw new UserError(
        'resource.conflict',
        'this user connected their own account for this connector instance: disconnect it first',
        { status: 409 },
      );
    for (const [key, value] of Object.entries(credentials))
      await secrets.put(userCredentialSecretName(user.workspaceId, user.id, instance.id, key), value);
    const row = await db.userConnection.upsert({
      where: { userId_connectorInstanceId: { userId: user.id, connectorInstanceId: instance.id } },
      create: { userId: user.id, connectorInstanceId: instance.id, credentialKeys: Object.keys(credentials) },
      update: { credentialKeys: Object.keys(credentials) },
    });
    await publisher.secretsChanged(userCredentialSecretPrefix(user.workspaceId, user.id, instance.id));
    await redis.sadd(keys.userConnections(user.workspaceId, user.id), `instance:${instance.id}`);
    res.json(connectionView(row, undefined));
  });

  r.delete('/:name/connections/:instanceId', async (req, res) => {
    const user = await userByName(req);
    const instanceId = String(req.params.instanceId);
    const row = isUuid(instanceId)
      ? await db.userConnection.findUnique({
          where: { userId_connectorInstanceId: { userId: user.id, connectorInstanceId: instanceId } },
        })
      : null;
    if (!row) throw new NotFoundError('connection', instanceId);
    if (row.kind === 'oauth') {
      res.json(await disconnectAccount(user, instanceId, row.id));
      return;
    }
    await db.userConnection.delete({ where: { id: row.id } });
    for (const key of row.credentialKeys)
      await secrets.delete(userCredentialSecretName(user.workspaceId, user.id, instanceId, key));
    await publisher.secretsChanged(userCredentialSecretPrefix(user.workspaceId, user.id, instanceId));
    await redis.srem(keys.userConnections(user.workspaceId, user.id), `instance:${instanceId}`);
    res.status(204).end();
  });
  /**
   * Ends a person's own-account connection: a worker revokes the token at the provider (when the connector declares
   * a revocation endpoint) and deletes the tokens; the tokens are deleted here too, so a disconnect never depends on
   * a worker or the provider answering; its pending connect links are cancelled (`PeopleConnections.endAccount`).
   * Answers how the revocation went.
   */
  async function disconnectAccount(user: { id: string; workspaceId: string }, instanceId: string, rowId: string) {
    const apps = await people.appsOf(user.workspaceId, [instanceId]);
    const outcome = await people.endAccount(user.workspaceId, user.id, instanceId, apps.get(instanceId));
    await db.userConnection.delete({ where: { id: rowId } });
    return {
      connector_instance_id: instanceId,
      kind: 'oauth' as const,
      revocation: outcome.revocation,
      ...(outcome.error ? { revocation_error: outcome.error } : {}),
    };
  }

  // The user's own value of a workflow secret (`$secrets.NAME` in calls made for them).
  const secretName = (req: express.Request) => {
    const name = String(req.params.secret);
    if (!secretNamePattern.test(name))
      throw new ValidationError('the secret name is invalid', [
        { path: '/name', message: 'must be letters, digits and _ (not starting with a digit), at most 100' },
      ]);
    return name;
  };
  r.get('/:name/secrets', async (req, res) => {
    const user = await userByName(req);
    const prefix = userSecrets.workflow(user.workspaceId, user.id, '');
    const listed = await secrets.list(prefix);
    res.json({ data: listed.map((m) => ({ name: m.name.slice(prefix.length), updatedAt: m.updatedAt })) });
  });
  r.put('/:name/secrets/:secret', async (req, res) => {
    const user = await userByName(req);
    const name = secretName(req);
    const { value } = SecretBody.parse(req.body ?? {});
    const stored = userSecrets.workflow(user.workspaceId, user.id, name);
    await secrets.put(stored, value);
    await publisher.secretsChanged(stored);
    await redis.sadd(keys.userConnections(user.workspaceId, user.id), `secret:${name}`);
    res.json({ name, user: user.name });
  });
  r.delete('/:name/secrets/:secret', async (req, res) => {
    const user = await userByName(req);
    const name = secretName(req);
    const stored = userSecrets.workflow(user.workspaceId, user.id, name);
    if (!(await secrets.delete(stored))) throw new NotFoundError('secret', name);
    await publisher.secretsChanged(stored);
    await redis.srem(keys.userConnections(user.workspaceId, user.id), `secret:${name}`);
    res.status(204).end();
  });

  // The user's own headers (credentials) for one external MCP server of one of our servers.
  const externalTarget = async (req: express.Request, workspaceId: string) => {
    const serverId = String(req.params.serverId);
    const external = String(req.params.external);
    const server = isUuid(serverId) ? await db.mcpServer.findFirst({ where: { id: serverId, workspaceId } }) : null;
    if (!server) throw new NotFoundError('MCP server', serverId);
    if (!externalNamePattern.test(external)) throw new NotFoundError('external MCP server', external);
    return { serverId, external };
  };
  r.put('/:name/mcp_connections/:serverId/:external', async (req, res) => {
    const user = await userByName(req);
    const { serverId, external } = await externalTarget(req, user.workspaceId);
    const { headers } = HeadersBody.parse(req.body ?? {});
    const stored = userSecrets.externalMcp(user.workspaceId, user.id, serverId, external);
    await secrets.put(stored, JSON.stringify(headers));
    await publisher.secretsChanged(stored);
    await redis.sadd(keys.userConnections(user.workspaceId, user.id), `mcp:${serverId}/${external}`);
    res.json({ server_id: serverId, external, header_names: Object.keys(headers) });
  });
  r.delete('/:name/mcp_connections/:serverId/:external', async (req, res) => {
    const user = await userByName(req);
    const { serverId, external } = await externalTarget(req, user.workspaceId);
    const stored = userSecrets.externalMcp(user.workspaceId, user.id, serverId, external);
    if (!(await secrets.delete(stored))) throw new NotFoundError('connection', `${serverId}/${external}`);
    await publisher.secretsChanged(stored);
    await redis.srem(keys.userConnections(user.workspaceId, user.id), `mcp:${serverId}/${external}`);
    res.status(204).end();
  });
  return r;
}

/**
 * Re-publishes every workspace's user names and what each user has connected (Redis may have
 * restarted empty): connector connections from PostgreSQL, external MCP headers and workflow secrets
 * from the secrets store's names (`secrets`; without it only connector connections).
 */
export async function republishUsers(db: Db, redis: Redis, prefix: string, secrets?: SecretsWriter): Promise<number> {
  const keys = redisKeys(prefix);
  const users = await db.externalUser.findMany({
    include: { connections: { select: { connectorInstanceId: true, kind: true } } },
  });
  for (const u of users) {
    await redis.hset(keys.users(u.workspaceId), u.name, u.id);
    await redis.hset(keys.userAttributes(u.workspaceId), u.id, JSON.stringify(u.attributes ?? {}));
    const markers = u.connections.map((c) => connectionMarker(c.kind, c.connectorInstanceId));
    const own = userSecrets.prefix(u.workspaceId, u.id);
    for (const meta of secrets ? await secrets.list(own) : []) {
      const rest = meta.name.slice(own.length);
      const secret = /^secrets\/(.+)$/.exec(rest);
      const external = /^servers\/([^/]+)\/external\/([^/]+)\/headers$/.exec(rest);
      if (secret) markers.push(`secret:${secret[1]}`);
      else if (external) markers.push(`mcp:${external[1]}/${external[2]}`);
    }
    if (markers.length > 0) await redis.sadd(keys.userConnections(u.workspaceId, u.id), ...markers);
  }
  return users.length;
}

/**
 * Whether a connect link's binding holds together (ADR 0027): its person (by id and name), its server and its
 * connection's connector instance are the named workspace's (a link to a deleted instance connects nobody), and its
 * connection is that person's own account in that workspace.
 */
export async function oauthLinkBelongs(db: Db, link: ConnectLink): Promise<boolean> {
  const parts = userSecrets.parseOauth(link.connection);
  if (!parts || parts.userId !== link.userId || parts.workspaceId !== link.workspaceId) return false;
  if (![link.workspaceId, link.userId, link.serverId, parts.instanceId].every(isUuid)) return false;
  const [user, server, instance] = await Promise.all([
    db.externalUser.findFirst({ where: { id: link.userId, workspaceId: link.workspaceId, name: link.username } }),
    db.mcpServer.findFirst({ where: { id: link.serverId, workspaceId: link.workspaceId }, select: { id: true } }),
    db.connectorInstance.findFirst({
      where: { id: parts.instanceId, workspaceId: link.workspaceId },
      select: { id: true },
    }),
  ]);
  return user !== null && server !== null && instance !== null;
}
