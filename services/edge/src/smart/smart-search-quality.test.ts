import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from '@jest/globals';
import type { CatalogTool } from '@toolplane/contracts';
import { githubSearchQueries } from '@toolplane/examples';
import { ToolSearch } from './smart-mode.ts';

// SMART-mode search over a large real catalog: every operation of GitHub's REST description
// (npm @octokit/openapi, ~1,200 operations) becomes a tool; natural-language queries written for a
// given tool must find it in the top 3 for at least 90 % of them.
const require = createRequire(import.meta.url);
const doc = JSON.parse(readFileSync(require.resolve('@octokit/openapi/generated/api.github.com.json'), 'utf8')) as {
  paths: Record<
    string,
    Record<
      string,
      {
        operationId?: string;
        summary?: string;
        description?: string;
        parameters?: { name?: string; description?: string }[];
      }
    >
  >;
};

const toolName = (operationId: string) => operationId.replace(/[^A-Za-z0-9_-]/g, '_');

const catalog: CatalogTool[] = [];
for (const [path, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (!['get', 'post', 'put', 'patch', 'delete'].includes(method) || !op.operationId) continue;
    const properties = Object.fromEntries(
      (op.parameters ?? [])
        .filter((p) => p.name)
        .map((p) => [
          p.name!,
          { type: 'string', ...(p.description ? { description: p.description.slice(0, 200) } : {}) },
        ]),
    );
    catalog.push({
      tool: {
        name: toolName(op.operationId),
        title: op.summary,
        description: [op.summary, op.description?.slice(0, 400)].filter(Boolean).join('. '),
        inputSchema: { type: 'object', properties },
      },
      plan: {
        kind: 'http',
        method: method.toUpperCase() as 'GET',
        url: `https://api.github.com${path}`,
        params: [],
        authHeaders: {},
        secrets: {},
      },
    });
  }
}

const queries = githubSearchQueries;

describe('SMART search over GitHub’s REST API catalog', () => {
  const search = new ToolSearch(catalog);

  it('indexes a real catalog of more than 1,000 tools', () => {
    expect(catalog.length).toBeGreaterThan(1000);
    for (const [, expected] of queries) expect(catalog.some((t) => t.tool.name === toolName(expected))).toBe(true);
  });

  it('finds the intended tool in the top 3 for at least 90 % of natural-language queries', () => {
    const misses = queries.filter(([q, expected]) => !search.search(q, 3).some((h) => h.name === toolName(expected)));
    const hitRate = (queries.length - misses.length) / queries.length;
    // On failure the message lists the queries that missed.
    if (hitRate < 0.9) throw new Error(`hit rate ${hitRate}: missed ${JSON.stringify(misses.map(([q]) => q))}`);
    expect(hitRate).toBeGreaterThanOrEqual(0.9);
  });
});
