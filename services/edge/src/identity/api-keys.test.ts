import { describe, expect, it } from '@jest/globals';
import { hashApiKey, RecentKeyHashes } from './api-keys.ts';

describe('RecentKeyHashes', () => {
  it("answers each key's SHA-256, held or not", () => {
    const recent = new RecentKeyHashes(2, 60_000);
    for (const key of ['tp-a', 'tp-b', 'tp-a', 'tp-c', 'tp-d', 'tp-a', 'tp-é'])
      expect(recent.hash(key)).toBe(hashApiKey(key));
  });

  it('holds at most two generations of keys, however many keys come', () => {
    const recent = new RecentKeyHashes(10, 60_000);
    for (let i = 0; i < 1_000; i++) recent.hash(`tp-made-up-${i}`);
    expect(recent.size).toBeLessThanOrEqual(20);
  });

  it('forgets every key within two periods of its last use', async () => {
    const recent = new RecentKeyHashes(10, 20);
    recent.hash('tp-a');
    recent.hash('tp-b');
    expect(recent.size).toBe(2);
    // Waits for the timer's rotations (an event, however slow the machine), not for a fixed time.
    while (recent.size > 0) await new Promise((r) => setTimeout(r, 5));
    expect(recent.size).toBe(0);
  });
});
