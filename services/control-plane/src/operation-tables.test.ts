import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { openApiDocumentPath } from './api-document.ts';
import { allOperations } from './resources/operations.ts';

/**
 * The operation tables (resources/operations.ts) against the committed document (docs/openapi.json): one test per
 * documented operation and one per table entry, generated from both, so that an operation is served by exactly one
 * entry, declared once with its description, and no entry serves what the document does not describe.
 */

const methods = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** `GET /mcp_manager/{id}`: an operation as the document and the tables both name it. */
const keyOf = (method: string, path: string) => `${method.toUpperCase()} ${path}`;

type DocumentOperation = { key: string; method: string; path: string; operationId: string };

const document = JSON.parse(readFileSync(openApiDocumentPath, 'utf8')) as {
  paths: Record<string, Partial<Record<(typeof methods)[number], { operationId: string }>>>;
};
const documented: DocumentOperation[] = Object.entries(document.paths).flatMap(([path, item]) =>
  methods.flatMap((method) => {
    const op = item[method];
    return op ? [{ key: keyOf(method, path), method, path, operationId: op.operationId }] : [];
  }),
);

/** The document's own route, served by http-app.ts (`publicRoutes`, without a key): no table's, by design. */
const servedOutsideTables = new Set(['GET /openapi.json']);

/**
 * The document's operations still served by a legacy router (http-app.ts, `legacy`), by resource folder: none of
 * them may be in a table yet, and every other documented operation must be. Each branch converting a resource drops
 * its lines; this list is emptied when the branches that convert the other resources are merged, and the legacy
 * routers go with it.
 */
const notYetInATable: readonly string[] = [
  // access-policies
  'POST /access_policies',
  'GET /access_policies',
  'GET /access_policies/{id}',
  'PATCH /access_policies/{id}',
  'DELETE /access_policies/{id}',
  'POST /access_policies/explain',
  // api-catalog
  'GET /api_catalog',
  'POST /api_catalog/{id}/add',
  // api-keys
  'POST /api_keys',
  'GET /api_keys',
  'GET /api_keys/{id}',
  'PATCH /api_keys/{id}',
  'DELETE /api_keys/{id}',
  // connector-instances
  'POST /connector_instances',
  'GET /connector_instances',
  'GET /connector_instances/{id}',
  'PATCH /connector_instances/{id}',
  'POST /connector_instances/{id}/test',
  'DELETE /connector_instances/{id}',
  // connectors
  'POST /connectors',
  'GET /connectors',
  'GET /connectors/{id}',
  'PUT /connectors/{id}',
  'DELETE /connectors/{id}',
  'GET /connectors/{id}/openapi.json',
  // curated-connectors
  'GET /connectors/curated',
  'POST /connectors/curated/{slug}',
  'POST /connectors/curated/{slug}/setup',
  'POST /connectors/curated/{slug}/upgrade',
  // debug-sessions
  'POST /mcp_manager/{id}/debug_sessions',
  'GET /mcp_manager/{id}/debug_sessions',
  'GET /mcp_manager/{id}/debug_sessions/{sessionId}/events',
  'DELETE /mcp_manager/{id}/debug_sessions/{sessionId}',
  // deployments
  'POST /mcp_servers/{id}/deploy',
  'POST /mcp_servers/{id}/deployments/{deploymentId}/redeploy',
  'POST /mcp_servers/{id}/deployments/{deploymentId}/withdraw',
  'GET /mcp_servers/{id}/deployments',
  'GET /mcp_servers/{id}/deployments/{deploymentId}',
  // execution-records
  'GET /execution_records',
  'GET /execution_records/{id}',
  // external-mcp-servers
  'GET /external_mcp_servers',
  'POST /external_mcp_servers',
  'GET /external_mcp_servers/{id}',
  'PATCH /external_mcp_servers/{id}',
  'DELETE /external_mcp_servers/{id}',
  // external-users
  'POST /external_users',
  'GET /external_users',
  'PATCH /external_users/{name}',
  'DELETE /external_users/{name}',
  'GET /external_users/{name}/connections',
  'PUT /external_users/{name}/connections/{instanceId}',
  'DELETE /external_users/{name}/connections/{instanceId}',
  'GET /external_users/{name}/secrets',
  'PUT /external_users/{name}/secrets/{secret}',
  'DELETE /external_users/{name}/secrets/{secret}',
  'PUT /external_users/{name}/mcp_connections/{serverId}/{external}',
  'DELETE /external_users/{name}/mcp_connections/{serverId}/{external}',
  // secrets
  'GET /secrets',
  'POST /secrets',
  'GET /secrets/{name}',
  'PUT /secrets/{name}',
  'DELETE /secrets/{name}',
  'GET /mcp_servers/{id}/secrets',
  'POST /mcp_servers/{id}/secrets',
  'GET /mcp_servers/{id}/secrets/{name}',
  'PUT /mcp_servers/{id}/secrets/{name}',
  'DELETE /mcp_servers/{id}/secrets/{name}',
  // server-tools
  'GET /mcp_manager/{id}/tools',
  'GET /connector_instances/{id}/tools',
  // workspace-files
  'GET /workspace_files',
  'GET /workspace_files/managed',
  'POST /workspace_files/plan',
  'POST /workspace_files/apply',
];

/**
 * The entries whose handler answers itself (`rawOperation`: an event stream, an export, a redirect), by operationId:
 * every other entry answers with its handler's value as JSON. A new raw handler is declared here.
 */
const answeringThemselves: Record<string, 'stream' | 'redirect'> = {};

const servingEntries = (op: DocumentOperation) =>
  allOperations.filter((o) => keyOf(o.route.method, o.route.path) === op.key);

describe('the operation tables and docs/openapi.json', () => {
  it('read a document with operations', () => {
    expect(documented.length).toBeGreaterThan(50);
  });

  it.each(documented.map((op) => [op.key, op] as const))('%s is served by exactly one entry', (_key, op) => {
    const serving = servingEntries(op).map((o) => o.route.operationId);
    if (servedOutsideTables.has(op.key) || notYetInATable.includes(op.key)) expect(serving).toEqual([]);
    else expect(serving).toEqual([op.operationId]);
  });

  it.each(allOperations.map((o) => [keyOf(o.route.method, o.route.path), o] as const))(
    '%s, an entry, is in the document with its operationId',
    (_key, o) => {
      const method = o.route.method as (typeof methods)[number];
      expect(document.paths[o.route.path]?.[method]?.operationId).toBe(o.route.operationId);
    },
  );

  it('lists only documented operations as not yet in a table, each once', () => {
    const keys = new Set(documented.map((op) => op.key));
    expect(notYetInATable.filter((k) => !keys.has(k))).toEqual([]);
    expect(new Set(notYetInATable).size).toBe(notYetInATable.length);
    expect([...servedOutsideTables].filter((k) => !keys.has(k))).toEqual([]);
  });

  it('names every entry that answers itself', () => {
    const raw = Object.fromEntries(
      allOperations.filter((o) => o.answers !== 'json').map((o) => [o.route.operationId, o.answers]),
    );
    expect(raw).toEqual(answeringThemselves);
    // And such an entry has no JSON handler, the others no raw one.
    for (const o of allOperations) expect([o.answers, o.raw === undefined, o.handler === undefined]).toEqual(
      o.answers === 'json' ? ['json', true, false] : [o.answers, false, true],
    );
  });
});
