import { describe, expect, it } from '@jest/globals';
import type { QuotaRule } from '@toolplane/contracts';
import { QuotaReplay } from './quota-replay.ts';

const hour: QuotaRule = {
  id: 'q1',
  name: 'three an hour',
  match: {},
  counts: 'calls',
  limit: 3,
  window: 'hour',
  per: 'api_key',
  enforce: true,
};
const at = (iso: string) => Date.parse(iso);

describe('QuotaReplay', () => {
  it('refuses past the limit within a window, per key, and starts again in the next window', () => {
    const replay = new QuotaReplay();
    const a = { workspaceId: 'w', rules: [hour], caller: { keyId: 'a' } };
    const b = { workspaceId: 'w', rules: [hour], caller: { keyId: 'b' } };
    const refused = (q: typeof a, t: string) => replay.charge(q, 'tool', 1, at(t)).refused !== undefined;
    expect([1, 2, 3, 4].map((m) => refused(a, `2026-11-27T10:0${m}:00Z`))).toEqual([false, false, false, true]);
    expect(refused(b, '2026-11-27T10:05:00Z')).toBe(false);
    expect(refused(a, '2026-11-27T11:00:00Z')).toBe(false);
  });

  it('charges log-only quotas past their limit and says so; counts cost units', () => {
    const replay = new QuotaReplay();
    const shadow = { ...hour, enforce: false, limit: 2, counts: 'cost' as const };
    const q = { workspaceId: 'w', rules: [shadow], caller: { keyId: 'a' } };
    const first = replay.charge(q, 'tool', 2, at('2026-11-27T10:00:00Z'));
    expect(first).toMatchObject({ shadow: [], charged: [{ id: 'q1', amount: 2 }] });
    const second = replay.charge(q, 'tool', 2, at('2026-11-27T10:01:00Z'));
    expect(second.refused).toBeUndefined();
    expect(second.shadow.map((r) => r.id)).toEqual(['q1']);
  });
});
