import { z } from 'zod';
import { json, jsonBody, noContent, pathParams, problems, type RouteDoc } from '../../openapi/registry.ts';
import { CreateBody, PutBody } from './schemas.ts';

const timestamp = z.iso.datetime();

const CreateSecretBody = CreateBody.meta({ id: 'CreateSecretBody' });
const PutSecretBody = PutBody.meta({ id: 'PutSecretBody' });

/** What the API shows of a secret (`presenter` in scopes.ts): names, versions and times, never the value. */
const secretFields = {
  name: z.string().describe('The secret’s name (`$secrets.NAME`).'),
  version: z.string().describe('Id of the current version.'),
  versions: z
    .array(
      z
        .object({
          id: z.string(),
          stages: z
            .array(z.enum(['current', 'previous']))
            .describe('`current`: the value in use; `previous`: the one it replaced.'),
        })
        .strict(),
    )
    .describe('Versions the store still holds, current first.'),
  created_at: timestamp,
  updated_at: timestamp,
};

const WorkspaceSecret = z
  .object({ ...secretFields, scope: z.literal('workspace') })
  .strict()
  .meta({ id: 'WorkspaceSecret' });

const ServerSecret = z
  .object({ ...secretFields, scope: z.literal('mcp_server'), mcp_server_id: z.uuid() })
  .strict()
  .meta({ id: 'ServerSecret' });

const tags = ['secrets'];

/** `{id}` of the server routes: the server's id or name. */
const serverParams = (...names: 'name'[]) =>
  pathParams('id', ...names).extend({ id: z.string().describe('The MCP server’s id or name.') });

interface Scope {
  /** Path of the collection: `/secrets`, `/mcp_servers/{id}/secrets`. */
  base: string;
  /** Operation id part: `Secret` → `listSecrets`, `createSecret`, … */
  noun: 'Secret' | 'ServerSecret';
  /** "a workspace secret", "an MCP server secret". */
  what: string;
  schema: z.ZodType;
  params: (...names: 'name'[]) => z.ZodObject;
  /** 404 besides a missing secret (an unknown server). */
  scopeNotFound: number[];
  listSummary: string;
  listDescription: string;
  /** What a key limited to servers may do (a server's secrets: its own servers'). */
  access: RouteDoc['x-server-limited-keys'];
}

/** The same five routes for either scope, as `secretsRoutes` in router.ts serves them. */
function scopeRoutes(s: Scope): RouteDoc[] {
  const one = `${s.base}/{name}`;
  const named = { params: s.params('name') };
  const collection = Object.keys(s.params().shape).length > 0 ? { params: s.params() } : {};
  const access = s.access ? { 'x-server-limited-keys': s.access } : {};
  // `secret.create`, `server_secret.set`…: the event names the secret, never its value.
  const resource = s.noun === 'Secret' ? 'secret' : 'server_secret';
  const audit = (verb: string) => ({ action: `${resource}.${verb}`, resource });
  const routes: RouteDoc[] = [
    {
      method: 'get',
      path: s.base,
      operationId: `list${s.noun}s`,
      tags,
      summary: s.listSummary,
      ...(Object.keys(collection).length > 0 ? { request: collection } : {}),
      responses: {
        200: json(s.listDescription, z.object({ data: z.array(s.schema) }).strict()),
        ...problems(403, ...s.scopeNotFound),
      },
    },
    {
      method: 'post',
      path: s.base,
      operationId: `create${s.noun}`,
      'x-audit': audit('create'),
      tags,
      summary: `Create ${s.what}`,
      description: 'The value goes to the secrets store and never comes back.',
      request: { ...collection, body: jsonBody(CreateSecretBody) },
      responses: {
        201: json('The secret’s metadata.', s.schema),
        ...problems(400, 403, ...s.scopeNotFound, 409, 413, 415, 422),
      },
    },
    {
      method: 'get',
      path: one,
      operationId: `get${s.noun}`,
      tags,
      summary: `Get ${s.what}’s metadata`,
      request: named,
      responses: { 200: json('The secret’s metadata.', s.schema), ...problems(403, 404, 422) },
    },
    {
      method: 'put',
      path: one,
      operationId: `set${s.noun}`,
      'x-audit': audit('set'),
      tags,
      summary: `Create or rotate ${s.what}`,
      description: 'The value becomes a new version; the previous one stays in the store as `previous`.',
      request: { ...named, body: jsonBody(PutSecretBody) },
      responses: {
        200: json('Rotated: the secret’s metadata.', s.schema),
        201: json('Created: the secret’s metadata.', s.schema),
        ...problems(400, 403, ...s.scopeNotFound, 413, 415, 422),
      },
    },
    {
      method: 'delete',
      path: one,
      operationId: `delete${s.noun}`,
      'x-audit': audit('delete'),
      tags,
      summary: `Delete ${s.what}`,
      request: named,
      responses: { 204: noContent, ...problems(403, 404, 422) },
    },
  ];
  return routes.map((r) => ({ ...r, ...access }));
}

/** The secrets routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const secretsRoutes: RouteDoc[] = [
  ...scopeRoutes({
    base: '/secrets',
    noun: 'Secret',
    what: 'a workspace secret',
    schema: WorkspaceSecret,
    params: (...names) => pathParams(...names),
    scopeNotFound: [],
    listSummary: 'List the workspace’s secrets (metadata only)',
    listDescription: 'Every workspace secret (server secrets are not listed).',
    access: undefined,
  }),
  ...scopeRoutes({
    base: '/mcp_servers/{id}/secrets',
    noun: 'ServerSecret',
    what: 'an MCP server secret',
    schema: ServerSecret,
    params: serverParams,
    scopeNotFound: [404],
    listSummary: 'List an MCP server’s secrets (metadata only)',
    listDescription: 'Every secret of the server.',
    access: 'own_server',
  }),
];
