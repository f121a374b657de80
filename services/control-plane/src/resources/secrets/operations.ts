import { z } from 'zod';
import { json, jsonList, noContent, pathParams, problems, type RouteDoc } from '../../openapi/registry.ts';
import { operation, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { serverParams, ServerSecret, WorkspaceSecret } from './openapi.ts';
import { CreateBody, PutBody } from './schemas.ts';
import { inScope, serverScope, workspaceScope, type ScopeOf } from './scopes.ts';

const tags = ['secrets'];

const CreateSecretBody = CreateBody.meta({ id: 'CreateSecretBody' });
const PutSecretBody = PutBody.meta({ id: 'PutSecretBody' });

/** Where secrets live: the workspace or one MCP server; the same five operations serve either. */
interface SecretsScope {
  /** Path of the collection: `/secrets`, `/mcp_servers/{id}/secrets`. */
  base: string;
  /** Operation id part: `Secret` → `listSecrets`, `createSecret`, … */
  noun: 'Secret' | 'ServerSecret';
  /** "a workspace secret", "an MCP server secret". */
  what: string;
  schema: z.ZodType;
  params: (...names: 'name'[]) => z.ZodObject<Record<string, z.ZodString>>;
  /** Finds the scope a call reaches: its 404 (an unknown server) comes before anything else the handler says. */
  scopeOf: ScopeOf;
  /** 404 besides a missing secret (an unknown server). */
  scopeNotFound: number[];
  listSummary: string;
  listDescription: string;
  /** What a key limited to servers may do (a server's secrets: its own servers'). */
  access: RouteDoc['x-server-limited-keys'];
  /** Writes take a large import's slot when large (every write under `/mcp_servers`). */
  largeImport: boolean;
}

/** What a key limited to servers may do, said on each route of the scope. */
const accessOf = (s: SecretsScope) => (s.access ? { 'x-server-limited-keys': s.access } : {});

/** `secret.create`, `server_secret.set`…: the event names the secret, never its value. */
function auditOf(s: SecretsScope, verb: string) {
  const resource = s.noun === 'Secret' ? 'secret' : 'server_secret';
  return { action: `${resource}.${verb}`, resource };
}

/** The scope's collection (`GET`, `POST`), each handler given the scope the call reaches (`inScope`). */
function collectionOperations(s: SecretsScope): Operation[] {
  const collection = Object.keys(s.params().shape).length > 0 ? { params: s.params() } : {};
  const access = accessOf(s);
  return [
    operation({
      route: {
        method: 'get',
        path: s.base,
        operationId: `list${s.noun}s`,
        tags,
        summary: s.listSummary,
        responses: { 200: jsonList(s.listDescription, s.schema), ...problems(403, ...s.scopeNotFound) },
        ...access,
      },
      ...collection,
      handler: inScope(s.scopeOf, handlers.listSecrets),
    }),
    operation({
      route: {
        method: 'post',
        path: s.base,
        operationId: `create${s.noun}`,
        'x-audit': auditOf(s, 'create'),
        tags,
        summary: `Create ${s.what}`,
        description: 'The value goes to the secrets store and never comes back.',
        responses: {
          201: json('The secret’s metadata.', s.schema),
          ...problems(400, 403, ...s.scopeNotFound, 409, 413, 415, 422),
        },
        ...access,
      },
      ...collection,
      body: CreateSecretBody,
      largeImport: s.largeImport,
      handler: inScope(s.scopeOf, handlers.createSecret),
    }),
  ];
}

/** One secret of the scope (`GET`, `PUT`, `DELETE`), each handler given the scope the call reaches (`inScope`). */
function secretOperations(s: SecretsScope): Operation[] {
  const one = `${s.base}/{name}`;
  const named = s.params('name');
  const access = accessOf(s);
  return [
    operation({
      route: {
        method: 'get',
        path: one,
        operationId: `get${s.noun}`,
        tags,
        summary: `Get ${s.what}’s metadata`,
        responses: { 200: json('The secret’s metadata.', s.schema), ...problems(403, 404, 422) },
        ...access,
      },
      params: named,
      handler: inScope(s.scopeOf, handlers.getSecret),
    }),
    operation({
      route: {
        method: 'put',
        path: one,
        operationId: `set${s.noun}`,
        'x-audit': auditOf(s, 'set'),
        tags,
        summary: `Create or rotate ${s.what}`,
        description: 'The value becomes a new version; the previous one stays in the store as `previous`.',
        responses: {
          200: json('Rotated: the secret’s metadata.', s.schema),
          201: json('Created: the secret’s metadata.', s.schema),
          ...problems(400, 403, ...s.scopeNotFound, 413, 415, 422),
        },
        ...access,
      },
      params: named,
      body: PutSecretBody,
      largeImport: s.largeImport,
      handler: inScope(s.scopeOf, handlers.putSecret),
    }),
    operation({
      route: {
        method: 'delete',
        path: one,
        operationId: `delete${s.noun}`,
        'x-audit': auditOf(s, 'delete'),
        tags,
        summary: `Delete ${s.what}`,
        responses: { 204: noContent, ...problems(403, 404, 422) },
        ...access,
      },
      params: named,
      handler: inScope(s.scopeOf, handlers.deleteSecret),
    }),
  ];
}

/** The five operations of a scope. */
const scopeOperations = (s: SecretsScope): Operation[] => [...collectionOperations(s), ...secretOperations(s)];

/**
 * Secrets of a workspace (`/secrets`) or of one MCP server (`/mcp_servers/{id}/secrets`, the server by id or name:
 * `$secrets.NAME` of its workflows): the worker reads a workflow's `$secrets.NAME` as the external user's when the
 * call names one, else (no user, or the server's `fallbackToShared`) the server's, else the workspace's
 * (docs/workflows.md). Values go straight to the secrets store (write-only) and never come back: answers carry
 * names, versions and times, read from the store's metadata; PostgreSQL holds nothing of them. Every write tells
 * workers to drop the cached value (`secretsChanged`), so a rotation takes effect at once, and at the latest after
 * the workers' SECRETS_CACHE_TTL_MS.
 */
export const secretsOperations: Operation[] = [
  ...scopeOperations({
    base: '/secrets',
    noun: 'Secret',
    what: 'a workspace secret',
    schema: WorkspaceSecret,
    params: (...names) => pathParams(...names),
    scopeOf: workspaceScope,
    scopeNotFound: [],
    listSummary: 'List the workspace’s secrets (metadata only)',
    listDescription: 'Every workspace secret (server secrets are not listed).',
    access: undefined,
    largeImport: false,
  }),
  ...scopeOperations({
    base: '/mcp_servers/{id}/secrets',
    noun: 'ServerSecret',
    what: 'an MCP server secret',
    schema: ServerSecret,
    params: serverParams,
    scopeOf: serverScope,
    scopeNotFound: [404],
    listSummary: 'List an MCP server’s secrets (metadata only)',
    listDescription: 'Every secret of the server.',
    access: 'own_server',
    largeImport: true,
  }),
];
