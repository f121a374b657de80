import { describe, expect, it } from '@jest/globals';
import type { CatalogTool, HttpOperationPlan } from '@toolplane/contracts';
import { confirmSuggested } from './confirm-suggestion.ts';

const http = (method: HttpOperationPlan['method'], extra: Partial<HttpOperationPlan> = {}): CatalogTool => ({
  tool: { name: `${method.toLowerCase()}_thing`, description: '', inputSchema: { type: 'object' } },
  plan: { kind: 'http', method, url: 'https://api.example/things', params: [], authHeaders: {}, secrets: {}, ...extra },
});

describe('confirmSuggested: what cannot be undone or safely sent twice', () => {
  it('suggests DELETE, and POST without an idempotency key', () => {
    expect(confirmSuggested(http('DELETE'))).toBe(true);
    expect(confirmSuggested(http('POST'))).toBe(true);
  });

  it('does not suggest a POST the upstream deduplicates, nor reads and idempotent writes', () => {
    expect(confirmSuggested(http('POST', { idempotencyKeyHeader: 'Idempotency-Key' }))).toBe(false);
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH'] as const)
      expect(confirmSuggested(http(method))).toBe(false);
  });

  it('suggests any tool annotated destructiveHint: true (workflows, external MCP tools, any method)', () => {
    const annotated = (t: CatalogTool, destructiveHint: boolean): CatalogTool => ({
      ...t,
      tool: { ...t.tool, annotations: { destructiveHint } },
    });
    expect(confirmSuggested(annotated(http('GET'), true))).toBe(true);
    expect(confirmSuggested(annotated(http('DELETE'), false))).toBe(true);
    const external: CatalogTool = {
      tool: { name: 'drop_table', description: '', inputSchema: { type: 'object' } },
      plan: { kind: 'mcp', server: 'db', url: 'https://mcp.example/mcp', remoteTool: 'drop_table' },
    };
    expect(confirmSuggested(external)).toBe(false);
    expect(confirmSuggested(annotated(external, true))).toBe(true);
  });
});
