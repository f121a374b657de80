import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { renderClientSchema } from './generate.ts';

describe('the typed client', () => {
  it('is generated from the committed docs/openapi.json (run scripts/gen-openapi.ts when this fails)', async () => {
    const document = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')) as object;
    const committed = readFileSync(new URL('./schema.ts', import.meta.url), 'utf8');
    if (committed !== (await renderClientSchema(document)))
      throw new Error(
        'packages/client/src/schema.ts is stale: run `node --conditions=@toolplane/source scripts/gen-openapi.ts`',
      );
    expect(committed).toContain('export interface paths');
  });
});
