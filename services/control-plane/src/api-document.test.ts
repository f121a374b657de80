import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { Validator } from '@seriousme/openapi-schema-validator';
import { openApiDocument, openApiDocumentPath, openApiDocumentText } from './api-document.ts';

const methods = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** `METHOD /path` with parameter names dropped (`/api_keys/{}`), so prose and document compare. */
const routeKey = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/\{[^}]*\}/g, '{}')}`;

/**
 * Routes the prose names: `POST /api/v1/connectors`, `DELETE /connector_instances/{id}` (prefix optional),
 * among the API's resources (`resources`: first path segments; the edge's `/mcp/{id}` is not this API's).
 */
function proseRoutes(resources: Set<string>): Set<string> {
  const text = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');
  const found = new Set<string>();
  for (const m of text.matchAll(/`(GET|POST|PUT|PATCH|DELETE)\s+(?:\/api\/v1)?(\/[A-Za-z0-9_{}/.-]*[A-Za-z0-9_}])/g))
    if (resources.has(m[2]!.split('/')[1]!)) found.add(routeKey(m[1]!, m[2]!));
  return found;
}

describe('the management API document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(openApiDocument() as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('is committed as docs/openapi.json, current', () => {
    if (readFileSync(openApiDocumentPath, 'utf8') !== openApiDocumentText())
      throw new Error('docs/openapi.json is stale: run `node --conditions=@toolplane/source scripts/gen-openapi.ts`');
  });

  it('gives every operation a unique operationId, a summary, and problem+json errors', () => {
    const doc = openApiDocument();
    const ids: string[] = [];
    for (const [path, item] of Object.entries(doc.paths ?? {}))
      for (const method of methods) {
        const op = item[method];
        if (!op) continue;
        expect({ path, method, operationId: op.operationId, summary: op.summary }).toMatchObject({
          operationId: expect.any(String),
          summary: expect.any(String),
        });
        ids.push(op.operationId!);
        if (path === '/openapi.json') continue;
        for (const status of ['401', '500', '503'])
          expect(Object.keys(op.responses?.[status]?.content ?? {})).toEqual(['application/problem+json']);
      }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('closes every object of every JSON request body: unknown fields are refused, never dropped', () => {
    type Schema = Record<string, unknown>;
    const doc = openApiDocument() as unknown as {
      paths: Record<
        string,
        Record<string, { operationId: string; requestBody?: { content?: Record<string, { schema: Schema }> } }>
      >;
      components: { schemas: Record<string, Schema> };
    };
    // Connector documents (a seed-001 descriptor, an OpenAPI document) keep the keys they do not know, by design
    // (docs/api.md): only there may an object be open (`additionalProperties: {}`), never silently stripping.
    const documents = new Set(['pushConnector', 'updateConnector']);
    const stripping: string[] = [];
    const open: string[] = [];
    const walk = (s: unknown, at: string, seen: Set<string>): void => {
      if (!s || typeof s !== 'object') return;
      const schema = s as Schema;
      if (typeof schema.$ref === 'string') {
        const name = schema.$ref.split('/').pop()!;
        if (!seen.has(name)) walk(doc.components.schemas[name], `${at}($${name})`, new Set([...seen, name]));
        return;
      }
      const properties = schema.properties as Record<string, unknown> | undefined;
      if (properties) {
        const extra = schema.additionalProperties;
        if (extra === undefined) stripping.push(at || '/');
        else if (extra !== false) open.push(at || '/');
        for (const [k, v] of Object.entries(properties)) walk(v, `${at}/${k}`, seen);
      }
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object')
        walk(schema.additionalProperties, `${at}/*`, seen);
      for (const k of ['anyOf', 'oneOf', 'allOf'] as const)
        ((schema[k] as unknown[] | undefined) ?? []).forEach((x, i) => walk(x, `${at}[${k} ${i}]`, seen));
      if (schema.items) walk(schema.items, `${at}/0`, seen);
    };
    const bodies: string[] = [];
    for (const [path, item] of Object.entries(doc.paths))
      for (const method of methods) {
        const op = item[method];
        const json = op?.requestBody?.content?.['application/json'];
        if (!op || !json) continue;
        bodies.push(op.operationId);
        const before = open.length;
        walk(json.schema, `${method.toUpperCase()} ${path}: `, new Set());
        if (documents.has(op.operationId)) open.splice(before);
      }
    expect(bodies.length).toBeGreaterThan(25);
    expect({ stripping, open }).toEqual({ stripping: [], open: [] });
  });

  it('names the same routes as docs/api.md: every documented route in the prose, every prose route documented', () => {
    const doc = openApiDocument();
    const documented = new Set(
      Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
        methods.filter((m) => item[m]).map((m) => routeKey(m, path)),
      ),
    );
    const prose = proseRoutes(new Set(Object.keys(doc.paths ?? {}).map((p) => p.split('/')[1]!)));
    expect({
      missingFromProse: [...documented].filter((r) => !prose.has(r)).sort(),
      notInDocument: [...prose].filter((r) => !documented.has(r)).sort(),
    }).toEqual({ missingFromProse: [], notInDocument: [] });
  });
});
