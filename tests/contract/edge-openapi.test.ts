import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { Validator } from '@seriousme/openapi-schema-validator';
import {
  edgeOpenApiDocument,
  edgeOpenApiDocumentPath,
  edgeOpenApiDocumentText,
} from '../../services/edge/src/protocol/openapi.ts';

// The edge's OpenAPI document (its MCP endpoints), like the management API's
// (services/control-plane/src/openapi/document.test.ts): valid, committed current as docs/edge-openapi.json, and
// naming the same routes as docs/api.md's "MCP runtime" section. tests/e2e/calls/edge-contract.test.ts holds real
// exchanges to it.

const methods = ['get', 'put', 'post', 'delete', 'patch'] as const;
type Doc = ReturnType<typeof edgeOpenApiDocument>;
type Operation = { operationId: string; summary: string; responses: Record<string, { content?: object }> };
const operations = (doc: Doc) =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    methods
      .filter((m) => (item as Record<string, unknown>)[m])
      .map((m) => ({ path, method: m, op: (item as Record<string, Operation>)[m]! })),
  );

describe('the edge’s OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document with the seed’s two schemas', async () => {
    const validator = new Validator();
    const result = await validator.validate(edgeOpenApiDocument() as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(Object.keys(edgeOpenApiDocument().components.schemas)).toEqual(
      expect.arrayContaining(['McpRequestDto', 'McpJsonRpcResponseDto']),
    );
  });

  it('is committed as docs/edge-openapi.json, current', () => {
    if (readFileSync(edgeOpenApiDocumentPath, 'utf8') !== edgeOpenApiDocumentText())
      throw new Error(
        'docs/edge-openapi.json is stale: run `node --conditions=@toolplane/source scripts/gen-openapi.ts`',
      );
  });

  it('gives every operation a unique operationId and a summary, and every MCP error a JSON-RPC body', () => {
    const ops = operations(edgeOpenApiDocument());
    expect(new Set(ops.map((o) => o.op.operationId)).size).toBe(ops.length);
    for (const { path, op } of ops) {
      expect(op.summary).toEqual(expect.any(String));
      // This document, and the token and revocation endpoints, whose refusals are OAuth's (RFC 6749 §5.2), not JSON-RPC.
      if (path === '/openapi.json' || path === '/oauth/token-exchange' || path === '/oauth/revoke') continue;
      for (const [status, response] of Object.entries(op.responses))
        if (Number(status) >= 400)
          expect({ status, content: response.content }).toEqual({
            status,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/McpJsonRpcResponseDto' } } },
          });
    }
  });

  it('names the routes docs/api.md names in "MCP runtime", and no other', () => {
    const text = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const start = text.indexOf('## MCP runtime (edge)');
    const end = text.indexOf('\n## ', start + 1);
    const section = text.slice(start, end < 0 ? undefined : end);
    const prose = new Set(
      [
        ...section.matchAll(
          /`(GET|POST) ((?:\/api\/v1)?\/mcp\/\{serverId\}[A-Za-z0-9_{}/.-]*|\/openapi\.json|\/oauth\/token-exchange|\/oauth\/revoke)/g,
        ),
      ].map((m) => `${m[1]} ${m[2]}`),
    );
    const documented = new Set(operations(edgeOpenApiDocument()).map((o) => `${o.method.toUpperCase()} ${o.path}`));
    expect({
      missingFromProse: [...documented].filter((r) => !prose.has(r)).sort(),
      notInDocument: [...prose].filter((r) => !documented.has(r)).sort(),
    }).toEqual({ missingFromProse: [], notInDocument: [] });
  });
});
