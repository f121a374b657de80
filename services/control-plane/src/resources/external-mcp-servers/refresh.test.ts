import { describe, expect, it } from '@jest/globals';
import type { CatalogTool } from '@toolplane/contracts';
import { externalToolsDigest, lastListedTools } from './refresh.ts';

const external = (
  name: string,
  description: string,
  inputSchema: Record<string, unknown> = { type: 'object' },
): CatalogTool =>
  ({
    tool: { name, description, inputSchema },
    plan: { kind: 'mcp', server: 'orders', url: 'http://orders.test/mcp', remoteTool: name.replace(/^orders__/, '') },
    source: { connector: 'mcp:orders', instance: 'orders' },
  }) as CatalogTool;
const own = (name: string): CatalogTool =>
  ({
    tool: { name, description: 'own', inputSchema: { type: 'object' } },
    plan: { kind: 'http', method: 'GET', path: '/x' },
    source: { connector: 'c', instance: 'i' },
  }) as unknown as CatalogTool;

describe('externalToolsDigest', () => {
  it("ignores key order (catalogs come back from jsonb reordered) and the server's own tools", () => {
    const a = externalToolsDigest({
      tools: [own('a'), external('lookup', 'Find', { type: 'object', properties: { id: { type: 'string' } } })],
    });
    const reordered = {
      tools: [
        own('b'),
        {
          source: { instance: 'orders', connector: 'mcp:orders' },
          plan: { remoteTool: 'lookup', url: 'http://orders.test/mcp', server: 'orders', kind: 'mcp' },
          tool: {
            inputSchema: { properties: { id: { type: 'string' } }, type: 'object' },
            description: 'Find',
            name: 'lookup',
          },
        } as CatalogTool,
      ],
    };
    expect(externalToolsDigest(reordered)).toBe(a);
  });

  it('changes with a description, a schema, an added tool or the order', () => {
    const base = externalToolsDigest({ tools: [external('a', 'A'), external('b', 'B')] });
    expect(externalToolsDigest({ tools: [external('a', 'A2'), external('b', 'B')] })).not.toBe(base);
    expect(
      externalToolsDigest({ tools: [external('a', 'A', { type: 'object', required: ['x'] }), external('b', 'B')] }),
    ).not.toBe(base);
    expect(externalToolsDigest({ tools: [external('a', 'A'), external('b', 'B'), external('c', 'C')] })).not.toBe(base);
    expect(externalToolsDigest({ tools: [external('b', 'B'), external('a', 'A')] })).not.toBe(base);
  });
});

describe('lastListedTools', () => {
  it('gives back the stored tools of one external server under their remote names', () => {
    const cfg = { name: 'orders', url: 'http://orders.test/mcp', tools: [], headerNames: [] };
    const tools = lastListedTools(
      { tools: [own('get_ticket'), external('orders__get_ticket', 'Remote'), external('lookup', 'Find')] },
      cfg,
    );
    expect(tools).toEqual([
      { name: 'get_ticket', description: 'Remote', inputSchema: { type: 'object' } },
      { name: 'lookup', description: 'Find', inputSchema: { type: 'object' } },
    ]);
    expect(lastListedTools({ tools: [external('lookup', 'Find')] }, { ...cfg, url: 'http://moved.test/mcp' })).toEqual(
      [],
    );
    expect(lastListedTools(undefined, cfg)).toEqual([]);
  });
});
