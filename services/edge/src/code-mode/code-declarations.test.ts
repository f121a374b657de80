import { describe, expect, it } from '@jest/globals';
import { schemaType, toolDeclaration, toolDeclarations } from './code-declarations.ts';

describe('code mode declarations', () => {
  it('writes a JSON Schema as a compact TypeScript type', () => {
    expect(
      schemaType({
        type: 'object',
        properties: {
          id: { type: 'string' },
          'page-size': { type: 'integer' },
          state: { enum: ['open', 'closed'] },
          tags: { type: 'array', items: { type: ['string', 'null'] } },
        },
        required: ['id'],
      }),
    ).toBe('{ id: string; "page-size"?: number; state?: "open" | "closed"; tags?: (string | null)[] }');
    expect(schemaType({ type: 'object' })).toBe('Record<string, unknown>');
    expect(schemaType(undefined)).toBe('unknown');
  });

  it('declares each tool with its first description line, by name past the size budget, by neither past that', () => {
    const tool = (name: string) => ({
      name,
      description: 'Get a ticket.\nMore.',
      inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    });
    expect(toolDeclarations([tool('get_ticket')])).toBe(
      'declare const tools: {\n  /** Get a ticket. */\n  get_ticket(args: { id: string }): Promise<unknown>;\n};',
    );
    const some = toolDeclarations(Array.from({ length: 100 }, (_, i) => tool(`tool_${i}`)));
    expect(some).toMatch(/^\/\/ The 100 tools: tool_0, tool_1, .*, tool_99\.\n/);
    expect(some).toContain("search_tools' results");
    expect(some).not.toContain('tool_0(args');
    const many = toolDeclarations(Array.from({ length: 1000 }, (_, i) => tool(`tool_${i}`)));
    expect(many).toMatch(/^\/\/ 1000 tools: find them with search_tools/);
    expect(many).not.toContain('tool_999');
    expect(many.length).toBeLessThan(400);
    // A NORMAL server lists its tools' schemas itself: no search to point to.
    const normal = toolDeclarations(
      Array.from({ length: 100 }, (_, i) => tool(`tool_${i}`)),
      'NORMAL',
    );
    expect(normal).toContain("input schema in this server's tool list");
    expect(normal).not.toContain('search_tools');
  });

  it("gives one tool's declaration, its response type kept only while short", () => {
    const props = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`field_${i}`, { type: 'string' }]));
    const big = {
      name: 'get_repo',
      description: 'Get a repository.',
      inputSchema: { type: 'object', properties: { repo: { type: 'string' } } },
    };
    expect(toolDeclaration({ ...big, outputSchema: { type: 'object', properties: props } })).toBe(
      'get_repo(args: { repo?: string }): Promise<Record<string, unknown>>;',
    );
    const small = { type: 'object', properties: { id: { type: 'number' } } };
    expect(toolDeclaration({ ...big, outputSchema: small })).toBe(
      'get_repo(args: { repo?: string }): Promise<{ id?: number }>;',
    );
  });
});
