import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { openApiDocumentPath } from './api-document.ts';
import { areaOf } from './http/roles.ts';
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
 * The entries whose handler answers itself (`rawOperation`: an event stream, an export, a redirect), by operationId:
 * every other entry answers with its handler's value as JSON. A new raw handler is declared here.
 */
const answeringThemselves: Record<string, 'stream' | 'redirect'> = { streamDebugSessionEvents: 'stream' };

const servingEntries = (op: DocumentOperation) =>
  allOperations.filter((o) => keyOf(o.route.method, o.route.path) === op.key);

describe('the operation tables and docs/openapi.json', () => {
  it('read a document with operations', () => {
    expect(documented.length).toBeGreaterThan(50);
  });

  it.each(documented.map((op) => [op.key, op] as const))('%s is served by exactly one entry', (_key, op) => {
    const serving = servingEntries(op).map((o) => o.route.operationId);
    if (servedOutsideTables.has(op.key)) expect(serving).toEqual([]);
    else expect(serving).toEqual([op.operationId]);
  });

  it.each(allOperations.map((o) => [keyOf(o.route.method, o.route.path), o] as const))(
    '%s, an entry, is in the document with its operationId',
    (_key, o) => {
      const method = o.route.method as (typeof methods)[number];
      expect(document.paths[o.route.path]?.[method]?.operationId).toBe(o.route.operationId);
    },
  );

  it('names only documented operations as served outside the tables', () => {
    const keys = new Set(documented.map((op) => op.key));
    expect([...servedOutsideTables].filter((k) => !keys.has(k))).toEqual([]);
  });

  it('puts every entry in an area of the role table (http/roles.ts): what people’s roles reach', () => {
    const placed = allOperations.filter((o) => areaOf(o.route.path) === undefined);
    expect(placed.map((o) => keyOf(o.route.method, o.route.path))).toEqual([]);
  });

  it('names every entry that answers itself', () => {
    const raw = Object.fromEntries(
      allOperations.filter((o) => o.answers !== 'json').map((o) => [o.route.operationId, o.answers]),
    );
    expect(raw).toEqual(answeringThemselves);
    // And such an entry has no JSON handler, the others no raw one.
    for (const o of allOperations)
      expect([o.answers, o.raw === undefined, o.handler === undefined]).toEqual(
        o.answers === 'json' ? ['json', true, false] : [o.answers, false, true],
      );
  });
});
