import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { Validator } from '@seriousme/openapi-schema-validator';
import { openApiDocument, openApiDocumentPath, openApiDocumentText } from './document.ts';

const methods = ['get', 'put', 'post', 'delete', 'patch'] as const;

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
});
