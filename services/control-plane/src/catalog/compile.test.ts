import { describe, expect, it } from '@jest/globals';
import type { Catalog, CatalogTool } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import { markConfirmed } from './compile.ts';

const tool = (name: string): CatalogTool => ({
  tool: { name, description: name, inputSchema: { type: 'object' } },
  plan: { kind: 'http', method: 'DELETE', url: 'https://api.example/x', params: [], authHeaders: {}, secrets: {} },
});

const catalog: Catalog = {
  v: 1,
  serverId: 's1',
  workspaceId: 'w1',
  version: 1,
  name: 'orders',
  isPublic: false,
  mode: 'NORMAL',
  tools: [tool('delete_order'), tool('get_order')],
};

describe('markConfirmed: the tools a person confirms before each call (confirmTools)', () => {
  it('marks the named tools confirm: true, and only those', () => {
    const marked = markConfirmed(catalog, ['delete_order'], true);
    expect(marked.tools.map((t) => [t.tool.name, t.confirm])).toEqual([
      ['delete_order', true],
      ['get_order', undefined],
    ]);
    expect(markConfirmed(catalog, [], true)).toBe(catalog);
  });

  it('a tool the server does not expose: 422 naming it when the list is set; a warning after it left', () => {
    let err: unknown;
    try {
      markConfirmed(catalog, ['delete_order', 'drop_all'], true);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toEqual([
      { path: '/confirmTools/1', message: 'no tool "drop_all" on this server' },
    ]);
    const lenient = markConfirmed(catalog, ['delete_order', 'drop_all'], false);
    expect(lenient.tools[0]!.confirm).toBe(true);
    expect(lenient.warnings).toEqual([expect.stringContaining('"drop_all"')]);
  });
});
