import { describe, expect, it } from '@jest/globals';
import type { Catalog, ExecutionRecord } from '@toolplane/contracts';
import type { ExecutionRecordSink } from '@toolplane/queue';
import { deniedToolCall, restrictCatalog } from './access.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';

describe('restrictCatalog', () => {
  const catalog = {
    v: 1,
    serverId: 's1',
    workspaceId: 'w',
    version: 3,
    name: 'n',
    isPublic: false,
    mode: 'NORMAL',
    tools: ['get', 'search', 'create'].map((name) => ({
      tool: { name, description: name, inputSchema: { type: 'object' } },
      plan: { kind: 'mcp', server: 'x', url: 'http://x', remoteTool: name },
    })),
  } as Catalog;
  const loaded: LoadedCatalog = {
    catalog,
    tools: new Map(
      catalog.tools.map((t) => [t.tool.name, { def: t.tool, validate: (() => true) as never, rules: {} }]),
    ),
    meta: new Map(),
    list: catalog.tools.map((t) => t.tool),
  };

  it('returns the catalog itself for a full grant, and a cached filtered view otherwise', () => {
    expect(restrictCatalog(loaded, 'all', 'x')).toBe(loaded);
    const view = restrictCatalog(loaded, new Set(['get']), 'API key k');
    expect(view.list.map((t) => t.name)).toEqual(['get']);
    expect([...view.tools.keys()]).toEqual(['get']);
    expect(view.restriction!.hidden('create')).toBe(true);
    expect(view.restriction!.hidden('nope')).toBe(false);
    expect(restrictCatalog(loaded, new Set(['get']), 'API key k')).toBe(view);
  });

  it("a view of a view (a narrowed token's) grants only what both grant, event types too (issue #89)", () => {
    const parent = restrictCatalog(loaded, new Set(['get', 'github.push']), 'API key k');
    const narrowed = restrictCatalog(
      parent,
      new Set(['get', 'github.push', 'github.issue_opened']),
      'narrowed token t',
    );
    expect(narrowed.restriction!.granted!('github.push')).toBe(true);
    expect(narrowed.restriction!.granted!('github.issue_opened')).toBe(false);
    expect(
      restrictCatalog(loaded, new Set(['github.issue_opened']), 'x').restriction!.granted!('github.issue_opened'),
    ).toBe(true);
  });

  it('refuses a hidden tool with an isError result and a rejected execution record', () => {
    const added: ExecutionRecord[] = [];
    const sink = { add: (r: ExecutionRecord) => added.push(r) } as unknown as ExecutionRecordSink;
    const view = restrictCatalog(loaded, new Set(['get']), 'API key k');
    const result = deniedToolCall(sink, { loaded: view, principal: { workspaceId: 'w', keyId: 'k' } }, 'create');
    expect(result).toEqual({
      isError: true,
      content: [
        {
          type: 'text',
          text: 'Access denied: API key k may not use tool "create" on this MCP server (no access policy grants it).',
        },
      ],
    });
    expect(added).toEqual([
      expect.objectContaining({
        serverId: 's1',
        catalogVersion: 3,
        tool: 'create',
        outcome: 'rejected',
        errorCode: 'access.denied',
        caller: { keyId: 'k' },
      }),
    ]);
    expect(deniedToolCall(sink, { loaded: view, principal: { workspaceId: 'w' } }, 'nope')).toBeUndefined();
    expect(deniedToolCall(sink, { loaded, principal: { workspaceId: 'w' } }, 'create')).toBeUndefined();
  });
});
