import { describe, expect, it } from '@jest/globals';
import { LATENCY_BOUNDS_MS, LATENCY_BUCKETS } from './rollup.ts';
import { quantileFromBuckets, summarise } from './traffic.ts';

/** A histogram from durations, bucketed as PostgreSQL's width_bucket does in the rollup statement. */
function histogram(durations: number[]): number[] {
  const buckets = new Array<number>(LATENCY_BUCKETS).fill(0);
  for (const d of durations) buckets[LATENCY_BOUNDS_MS.filter((b) => b <= d).length]! += 1;
  return buckets;
}

describe('quantileFromBuckets', () => {
  it('answers the upper bound of the bucket holding rank ⌈q·n⌉', () => {
    const d = [0.5, 0.5, 4, 4, 4, 40, 40, 400];
    expect(quantileFromBuckets(histogram(d), 0.5, 400)).toBe(5);
    expect(quantileFromBuckets(histogram(d), 0.75, 400)).toBe(50);
    expect(quantileFromBuckets(histogram(d), 0.25, 400)).toBe(1);
  });

  it('never answers more than the slowest call', () => {
    expect(quantileFromBuckets(histogram([4, 4]), 0.5, 4)).toBe(4);
    expect(quantileFromBuckets(histogram([2000, 2000]), 0.95, 2000)).toBe(2000);
  });

  it('answers the slowest call for the last bucket, which has no bound', () => {
    expect(quantileFromBuckets(histogram([90_000]), 0.5, 90_000)).toBe(90_000);
  });

  it('answers null without calls', () => {
    expect(quantileFromBuckets(histogram([]), 0.5, 0)).toBeNull();
  });
});

describe('summarise', () => {
  const start = Date.parse('2026-01-01T10:00:00Z');
  const end = start + 3_600_000;
  const row = (minute: string, calls: number, errors: number, durations: number[], refused = 0) => ({
    minute_ms: Date.parse(minute),
    calls,
    errors,
    refused,
    max_ms: Math.max(...durations),
    buckets: histogram(durations),
  });

  it('puts minutes into steps, sums them, and ranks tools', () => {
    const s = summarise(
      [row('2026-01-01T10:00:00Z', 2, 1, [4, 40], 4), row('2026-01-01T10:01:00Z', 1, 0, [4])],
      [
        { server_id: 'b', tool: 'x', calls: 1, errors: 1, refused: 0 },
        { server_id: 'a', tool: 'y', calls: 1, errors: 0, refused: 4 },
        { server_id: 'a', tool: 'x', calls: 1, errors: 0, refused: 0 },
      ],
      { start, end, stepSeconds: 600, top: 2, window: '1h' },
    );
    expect(s.series).toHaveLength(6);
    expect(s.series[0]).toEqual({
      start: '2026-01-01T10:00:00.000Z',
      calls: 3,
      errors: 1,
      error_rate: 1 / 3,
      refused: 4,
      p50_ms: 5,
      p95_ms: 40,
    });
    expect(s.totals).toEqual({ calls: 3, errors: 1, error_rate: 1 / 3, refused: 4, p50_ms: 5, p95_ms: 40 });
    expect(s.busiest_tools.map((t) => `${t.server_id}/${t.tool}`)).toEqual(['a/x', 'a/y']);
    expect(s.most_errors.map((t) => `${t.server_id}/${t.tool}`)).toEqual(['b/x']);
  });

  it('ignores rows outside the window', () => {
    const s = summarise([row('2026-01-01T11:00:00Z', 5, 0, [1])], [], {
      start,
      end,
      stepSeconds: 60,
      top: 10,
      window: '1h',
    });
    expect(s.totals.calls).toBe(0);
    expect(s.series).toHaveLength(60);
  });
});
