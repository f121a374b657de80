import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { Validator } from '@seriousme/openapi-schema-validator';
import { openApiDocument, openApiDocumentPath, openApiDocumentText } from './document.ts';

const methods = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** `METHOD /path` with parameter names dropped (`/api_keys/{}`), so prose and document compare. */
const routeKey = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/\{[^}]*\}/g, '{}')}`;

/**
 * Routes the prose names: `POST /api/v1/connectors`, `DELETE /connector_instances/{id}` (prefix optional),
 * among the API's resources (`resources`: first path segments; the edge's `/mcp/{id}` is not this API's).
 */
function proseRoutes(resources: Set<string>): Set<string> {
  const text = readFileSync(new URL('../../../../docs/api.md', import.meta.url), 'utf8');
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
