import { describe, expect, it } from '@jest/globals';
import type { CatalogTool } from '@toolplane/contracts';
import { diffTools } from './diff.ts';

const tool = (name: string, change: Partial<CatalogTool['tool']> = {}, url = `https://api.test/${name}`) =>
  ({
    tool: { name, description: `${name} things`, inputSchema: { type: 'object', properties: {} }, ...change },
    plan: { kind: 'http', method: 'GET', url, params: [], secrets: {} },
  }) as unknown as CatalogTool;

describe('diffTools', () => {
  it('names the tools added, removed and changed, with what changed', () => {
    const before = [tool('a'), tool('b'), tool('c'), tool('d')];
    const after = [
      tool('a'),
      tool('c', { description: 'new words', inputSchema: { type: 'object', properties: { q: { type: 'string' } } } }),
      tool('d', {}, 'https://api.test/v2/d'),
      tool('e'),
    ];
    expect(diffTools(before, after)).toEqual({
      added: ['e'],
      removed: ['b'],
      changed: [
        { name: 'c', fields: ['description', 'inputSchema'] },
        { name: 'd', fields: ['request'] },
      ],
    });
  });

  it('does not count the order of object keys, nor an absent part against an absent one', () => {
    const a = tool('a', { inputSchema: { type: 'object', properties: { x: { type: 'string', description: 'x' } } } });
    const b = tool('a', { inputSchema: { properties: { x: { description: 'x', type: 'string' } }, type: 'object' } });
    expect(diffTools([a], [b])).toEqual({ added: [], removed: [], changed: [] });
    expect(diffTools([], [])).toEqual({ added: [], removed: [], changed: [] });
  });

  it('sees an annotation or an output schema appear', () => {
    const after = tool('a', { annotations: { readOnlyHint: true }, outputSchema: { type: 'object' } });
    expect(diffTools([tool('a')], [after]).changed).toEqual([{ name: 'a', fields: ['outputSchema', 'annotations'] }]);
  });
});
