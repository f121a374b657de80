import { describe, expect, it } from '@jest/globals';
import { shapeResult } from './result-shapes.ts';

/** A search answer of `count` issues, each with more than a model needs. */
const search = (count: number) => ({
  total_count: 412,
  items: Array.from({ length: count }, (_, i) => ({
    number: 1200 + i,
    title: `Issue ${i + 1}`,
    state: i % 4 === 0 ? 'closed' : 'open',
    html_url: `https://github.com/o/r/issues/${1200 + i}`,
    labels: [{ id: i, name: 'bug', color: 'd73a4a', url: `https://api.github.com/repos/o/r/labels/bug` }],
    user: { login: `dev-${i}`, id: i, avatar_url: `https://avatars.githubusercontent.com/u/${i}` },
    body: 'When the upstream answers 503 during the nightly export, the job stops.',
  })),
});
const issueSearchProjection =
  '{total: total_count, items: items[].{number: number, title: title, state: state, url: html_url, labels: labels[].name}}';

const json = (value: unknown) => ({ content: [{ type: 'text', text: JSON.stringify(value) }] });

describe('results shaped for models', () => {
  it('projects a search answer and caps its items: the content and structured content agree, _meta says what was cut', () => {
    const answer = search(30);
    const { result, report } = shapeResult(
      { ...json(answer), structuredContent: answer },
      { projection: issueSearchProjection, maxItems: 20 },
    );
    const shaped = result.structuredContent as { total: number; items: Record<string, unknown>[] };
    expect(shaped.total).toBe(412);
    expect(shaped.items).toHaveLength(20);
    expect(shaped.items[0]).toEqual({
      number: 1200,
      title: 'Issue 1',
      state: 'closed',
      url: 'https://github.com/o/r/issues/1200',
      labels: ['bug'],
    });
    expect(JSON.parse(String(result.content[0]?.text))).toEqual(shaped);
    expect(report).toEqual({
      bytesBefore: Buffer.byteLength(JSON.stringify(answer)),
      bytesAfter: Buffer.byteLength(JSON.stringify(shaped)),
      truncated: { items: 10 },
    });
    expect(result._meta).toEqual({ 'toolplane/shape': report });
    expect(report!.bytesAfter * 3).toBeLessThan(report!.bytesBefore);
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
