import { describe, expect, it } from '@jest/globals';
import { schemaType, toolDeclarations } from './code-declarations.ts';

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

  it('declares each tool with its first description line, loosely past the size budget', () => {
    const tool = (name: string) => ({
      name,
      description: 'Get a ticket.\nMore.',
      inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    });
    expect(toolDeclarations([tool('get_ticket')])).toBe(
      'declare const tools: {\n  /** Get a ticket. */\n  get_ticket(args: { id: string }): Promise<unknown>;\n};',
    );
    const many = toolDeclarations(Array.from({ length: 500 }, (_, i) => tool(`tool_${i}`)));
    expect(many).toContain('tool_499(args: Record<string, unknown>): Promise<unknown>;');
    expect(many).toContain('describe_tool');
  });
});
