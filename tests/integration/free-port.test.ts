import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { claimPort, freePort, listenRange } from '../../packages/embedded/src/redis-server.ts';

describe('freePort: a port is given to one caller on this machine at a time', () => {
  it('claims a port once; a claim older than ten minutes can be taken over', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ports-'));
    expect(claimPort(41_000, dir)).toBe(true);
    expect(claimPort(41_000, dir)).toBe(false); // another stack got it a moment ago, maybe not bound yet
    expect(claimPort(41_001, dir)).toBe(true);
    const old = new Date(Date.now() - 11 * 60_000);
    utimesSync(join(dir, '41000'), old, old);
    expect(claimPort(41_000, dir)).toBe(true);
    expect(claimPort(41_000, dir)).toBe(false);
  });

  it('gives distinct ports', async () => {
    const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
    expect(new Set(ports).size).toBe(50);
  });

  it('gives ports below the ephemeral range, which outgoing connections can never take in the meantime', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'range-'));
    writeFileSync(join(dir, 'range'), '32768\t60999\n');
    expect(listenRange(join(dir, 'range'))).toEqual([20_000, 32_767]);
    writeFileSync(join(dir, 'range'), '10000 65000\n');
    expect(listenRange(join(dir, 'range'))).toEqual([5_999, 9_999]);
    expect(listenRange(join(dir, 'missing'))).toEqual([20_000, 32_767]);
    const [, high] = listenRange();
    for (const port of await Promise.all(Array.from({ length: 20 }, () => freePort()))) {
      expect(port).toBeGreaterThanOrEqual(1_024);
      expect(port).toBeLessThanOrEqual(high);
    }
  });
});
