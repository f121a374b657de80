import { oauthConnectionView, redisKeys, userSecrets, type ConnectorDescriptor } from '@toolplane/contracts';
import { NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import { credentialFields } from '@toolplane/openapi';
import { userCredentialSecretName, userCredentialSecretPrefix } from '../../catalog/secret-names.ts';
import { auditScopes } from '../../db/audited-db.ts';
import { isUuid } from '../../db/ids.ts';
import { credentialIssues } from '../connector-instances/credentials.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { endPersonConnections, endPersonRequests } from './ending.ts';
import { createPerson, deletePerson, setPersonAttributes } from './people.ts';
import { Reply, type Input } from '../operation.ts';
import type {
  ConnectionBody,
  CreateUserBody,
  HeadersBody,
  ListUsersQuery,
  SecretBody,
  UpdateUserBody,
} from './schemas.ts';

const secretNamePattern = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
const externalNamePattern = /^[a-z0-9][a-z0-9_-]{0,49}$/;

/** The caller's workspace's user named by the `name` path parameter, or a 404. */
async function userByName({ db }: ControlPlaneDeps, { params, caller }: Input<unknown>) {
  const name = params.name!;
  const user = await db.externalUser.findUnique({
    where: { workspaceId_name: { workspaceId: caller.workspaceId, name } },
  });
  if (!user) throw new NotFoundError('external user', name);
  return user;
}

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

/** Why a name is taken: by that person (deactivated: reactivated where that was done), or one differing in case. */
function takenMessage(name: string, taken: { name: string; active: boolean }): string {
  const who =
    taken.name === name
      ? `an external user named "${name}" already exists`
      : `an external user named "${taken.name}" already exists (names are compared ignoring case)`;
  if (taken.active) return who;
  return `${who}, deactivated by the identity provider (SCIM): reactivate them there (\`active: true\`)`;
}

/** `POST /external_users`: a user of the workspace's app, its name and attributes published for the edge. */
export async function createExternalUser(
  deps: ControlPlaneDeps,
  { body: { name, attributes }, caller: { workspaceId } }: Input<CreateUserBody>,
) {
  const refuse = (taken: { name: string; active: boolean }) =>
    new UserError('resource.conflict', takenMessage(name, taken), { status: 409 });
  const user = await createPerson(deps, { workspaceId, name, attributes: attributes ?? {} }, refuse);
  return { id: user.id, name: user.name, attributes: user.attributes, createdAt: user.createdAt };
}

/** `PATCH /external_users/{name}`: replaces the user's attributes. */
export async function updateExternalUser(deps: ControlPlaneDeps, input: Input<UpdateUserBody>) {
  const user = await userByName(deps, input);
  const updated = await setPersonAttributes(deps, user, input.body.attributes);
  return { id: updated.id, name: updated.name, attributes: updated.attributes, createdAt: updated.createdAt };
}

/**
 * `GET /external_users`: a page of the workspace's users, oldest first (creation time, then id), with the connector
 * instances each has connected (`name`: only that person); `next_cursor` (the page's last id) continues, null on the
 * last page.
 */
export async function listExternalUsers(
  { db }: ControlPlaneDeps,
  { caller, query: q }: Input<undefined, ListUsersQuery>,
) {
  const users = await db.externalUser.findMany({
    where: { workspaceId: caller.workspaceId, ...(q.name !== undefined ? { name: q.name } : {}) },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    take: q.limit + 1,
    ...(q.cursor ? { cursor: { id: q.cursor }, skip: 1 } : {}),
    include: { connections: { select: { connectorInstanceId: true } } },
  });
  const page = users.slice(0, q.limit);
  return {
    data: page.map((u) => ({
      id: u.id,
      name: u.name,
      attributes: u.attributes,
      createdAt: u.createdAt,
      connections: u.connections.map((c) => c.connectorInstanceId),
    })),
    next_cursor: users.length > q.limit ? page.at(-1)!.id : null,
  };
}

/**
 * `DELETE /external_users/{name}`: the user's own accounts end first (revoked at the provider), their waiting approval
 * requests expire (as SCIM's delete does), then everything stored under their name, the user and what the edge knows
 * of them.
 */
export async function deleteExternalUser(deps: ControlPlaneDeps, input: Input): Promise<void> {
  const user = await userByName(deps, input);
  // Outside the request's audit scope: the user's own delete below carries its event.
  await auditScopes.exit(async () => {
    await endPersonConnections(deps, user);
    await endPersonRequests(deps, user, input.source);
  });
  await deletePerson(deps, user);
}

/** `GET /external_users/{name}/connections`: pushed credentials (key names) and own accounts (their status). */
export async function listUserConnections(deps: ControlPlaneDeps, input: Input) {
  const { db, redis, prefix } = deps;
  const keys = redisKeys(prefix);
  const user = await userByName(deps, input);
  const rows = await db.userConnection.findMany({ where: { userId: user.id }, orderBy: { createdAt: 'asc' } });
  const data = [];
  for (const c of rows) {
    const state =
      c.kind === 'oauth'
        ? await redis.hgetall(keys.oauthConnection(userSecrets.oauth(user.workspaceId, user.id, c.connectorInstanceId)))
        : undefined;
    data.push(connectionView(c, state));
  }
  return { data };
}

/**
 * `PUT /external_users/{name}/connections/{instanceId}`: creates or replaces the user's credentials for one connector
 * instance (409 while the user's own account is connected to it).
 */
export async function setUserConnection(deps: ControlPlaneDeps, input: Input<ConnectionBody>) {
  const { db, secrets, publisher, redis, prefix } = deps;
  const user = await userByName(deps, input);
  const { credentials } = input.body;
  const instanceId = input.params.instanceId!;
  const instance = isUuid(instanceId)
    ? await db.connectorInstance.findFirst({
        where: { id: instanceId, workspaceId: user.workspaceId },
        include: { connector: true },
      })
    : null;
  if (!instance) throw new NotFoundError('connector instance', instanceId);
  const issues = credentialIssues(credentialFields(instance.connector.descriptor as ConnectorDescriptor), credentials);
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
  await redis.sadd(redisKeys(prefix).userConnections(user.workspaceId, user.id), `instance:${instance.id}`);
  return connectionView(row, undefined);
}

/**
 * Ends a person's own-account connection: a worker revokes the token at the provider (when the connector declares
 * a revocation endpoint) and deletes the tokens; the tokens are deleted here too, so a disconnect never depends on
 * a worker or the provider answering; its pending connect links are cancelled (`PeopleConnections.endAccount`).
 * Answers how the revocation went.
 */
async function disconnectAccount(
  { db, people }: ControlPlaneDeps,
  user: { id: string; workspaceId: string },
  instanceId: string,
  rowId: string,
) {
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

/**
 * `DELETE /external_users/{name}/connections/{instanceId}`: pushed credentials are deleted (204); an own account is
 * disconnected, and the answer says how its revocation went.
 */
export async function deleteUserConnection(deps: ControlPlaneDeps, input: Input) {
  const { db, secrets, publisher, redis, prefix } = deps;
  const user = await userByName(deps, input);
  const instanceId = input.params.instanceId!;
  const row = isUuid(instanceId)
    ? await db.userConnection.findUnique({
        where: { userId_connectorInstanceId: { userId: user.id, connectorInstanceId: instanceId } },
      })
    : null;
  if (!row) throw new NotFoundError('connection', instanceId);
  if (row.kind === 'oauth') return disconnectAccount(deps, user, instanceId, row.id);
  await db.userConnection.delete({ where: { id: row.id } });
  for (const key of row.credentialKeys)
    await secrets.delete(userCredentialSecretName(user.workspaceId, user.id, instanceId, key));
  await publisher.secretsChanged(userCredentialSecretPrefix(user.workspaceId, user.id, instanceId));
  await redis.srem(redisKeys(prefix).userConnections(user.workspaceId, user.id), `instance:${instanceId}`);
  return new Reply(204);
}

/** The `secret` path parameter: the name of a workflow secret (`$secrets.NAME`), or a 422. */
function secretName({ params }: Input<unknown>) {
  const name = params.secret!;
  if (!secretNamePattern.test(name))
    throw new ValidationError('the secret name is invalid', [
      { path: '/name', message: 'must be letters, digits and _ (not starting with a digit), at most 100' },
    ]);
  return name;
}

/** `GET /external_users/{name}/secrets`: the names of the user's own workflow secrets. */
export async function listUserSecrets(deps: ControlPlaneDeps, input: Input) {
  const user = await userByName(deps, input);
  const prefix = userSecrets.workflow(user.workspaceId, user.id, '');
  const listed = await deps.secrets.list(prefix);
  return { data: listed.map((m) => ({ name: m.name.slice(prefix.length), updatedAt: m.updatedAt })) };
}

/** `PUT /external_users/{name}/secrets/{secret}`: the user's own value of a workflow secret (`$secrets.NAME` in calls made for them). */
export async function setUserSecret(deps: ControlPlaneDeps, input: Input<SecretBody>) {
  const { secrets, publisher, redis, prefix } = deps;
  const user = await userByName(deps, input);
  const name = secretName(input);
  const { value } = input.body;
  const stored = userSecrets.workflow(user.workspaceId, user.id, name);
  await secrets.put(stored, value);
  await publisher.secretsChanged(stored);
  await redis.sadd(redisKeys(prefix).userConnections(user.workspaceId, user.id), `secret:${name}`);
  return { name, user: user.name };
}

/** `DELETE /external_users/{name}/secrets/{secret}`. */
export async function deleteUserSecret(deps: ControlPlaneDeps, input: Input): Promise<void> {
  const { secrets, publisher, redis, prefix } = deps;
  const user = await userByName(deps, input);
  const name = secretName(input);
  const stored = userSecrets.workflow(user.workspaceId, user.id, name);
  if (!(await secrets.delete(stored))) throw new NotFoundError('secret', name);
  await publisher.secretsChanged(stored);
  await redis.srem(redisKeys(prefix).userConnections(user.workspaceId, user.id), `secret:${name}`);
}

/** The `serverId` (one of the workspace's servers, else 404) and `external` path parameters. */
async function externalTarget({ db }: ControlPlaneDeps, { params }: Input<unknown>, workspaceId: string) {
  const serverId = params.serverId!;
  const external = params.external!;
  const server = isUuid(serverId) ? await db.mcpServer.findFirst({ where: { id: serverId, workspaceId } }) : null;
  if (!server) throw new NotFoundError('MCP server', serverId);
  if (!externalNamePattern.test(external)) throw new NotFoundError('external MCP server', external);
  return { serverId, external };
}

/**
 * `PUT /external_users/{name}/mcp_connections/{serverId}/{external}`: the user's own headers (credentials) for one
 * external MCP server of one of the workspace's servers.
 */
export async function setUserMcpConnection(deps: ControlPlaneDeps, input: Input<HeadersBody>) {
  const { secrets, publisher, redis, prefix } = deps;
  const user = await userByName(deps, input);
  const { serverId, external } = await externalTarget(deps, input, user.workspaceId);
  const { headers } = input.body;
  const stored = userSecrets.externalMcp(user.workspaceId, user.id, serverId, external);
  await secrets.put(stored, JSON.stringify(headers));
  await publisher.secretsChanged(stored);
  await redis.sadd(redisKeys(prefix).userConnections(user.workspaceId, user.id), `mcp:${serverId}/${external}`);
  return { server_id: serverId, external, header_names: Object.keys(headers) };
}

/** `DELETE /external_users/{name}/mcp_connections/{serverId}/{external}`. */
export async function deleteUserMcpConnection(deps: ControlPlaneDeps, input: Input): Promise<void> {
  const { secrets, publisher, redis, prefix } = deps;
  const user = await userByName(deps, input);
  const { serverId, external } = await externalTarget(deps, input, user.workspaceId);
  const stored = userSecrets.externalMcp(user.workspaceId, user.id, serverId, external);
  if (!(await secrets.delete(stored))) throw new NotFoundError('connection', `${serverId}/${external}`);
  await publisher.secretsChanged(stored);
  await redis.srem(redisKeys(prefix).userConnections(user.workspaceId, user.id), `mcp:${serverId}/${external}`);
}
