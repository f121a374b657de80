import { describe, expect, it } from '@jest/globals';
import { githubIssueSearch, issueSearchProjection } from '../../../tests/fixtures/github-search.ts';
import { shapeResult } from './result-shapes.ts';

const json = (value: unknown) => ({ content: [{ type: 'text', text: JSON.stringify(value) }] });

describe('results shaped for models', () => {
  it('projects a search answer and caps its items: the content and structured content agree, _meta says what was cut', () => {
    const answer = githubIssueSearch(30);
    const { result, report } = shapeResult(
      { ...json(answer), structuredContent: answer },
      { projection: issueSearchProjection, maxItems: 20 },
    );
    const shaped = result.structuredContent as { total: number; items: Record<string, unknown>[] };
    expect(shaped.total).toBe(412);
    expect(shaped.items).toHaveLength(20);
    expect(shaped.items[0]).toEqual({
      number: 1200,
      title: 'Retry the export when the upstream answers 503 (case 1)',
      state: 'closed',
      url: 'https://github.com/octo-org/octo-repo/issues/1200',
      labels: ['bug'],
    });
    expect(JSON.parse((result.content[0] as { text: string }).text)).toEqual(shaped);
    expect(report).toEqual({
      bytesBefore: Buffer.byteLength(JSON.stringify(answer)),
      bytesAfter: Buffer.byteLength(JSON.stringify(shaped)),
      truncated: { items: 10 },
    });
    expect(result._meta).toEqual({ 'toolplane/shape': report });
    expect(report!.bytesAfter * 10).toBeLessThan(report!.bytesBefore);
  });

  it('reads JSON text when there is no structured content; an array answer is capped as a whole', () => {
    const { result, report } = shapeResult(json([1, 2, 3, 4]), { maxItems: 2 });
    expect(result.content).toEqual([{ type: 'text', text: '[1,2]' }]);
    expect(result.structuredContent).toBeUndefined();
    expect(report?.truncated).toEqual({ $: 2 });
  });

  it('leaves errors, non-JSON answers and input_required rounds as they are', () => {
    const shape = { projection: 'a' };
    for (const r of [
      { ...json({ a: 1 }), isError: true },
      { content: [{ type: 'text', text: 'plain words' }] },
      { content: [{ type: 'text', text: '{not json' }] },
      { content: [], resultType: 'input_required' as const },
    ])
      expect(shapeResult(r, shape)).toEqual({ result: r });
  });
});
