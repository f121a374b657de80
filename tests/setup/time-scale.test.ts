import { describe, expect, it } from '@jest/globals';
import { timeScale } from '@toolplane/embedded';

// The suite on a busy machine: every bounded wait and jest timeout is multiplied by one factor.

describe('the time scale', () => {
  it('is TEST_TIME_SCALE when given, else 3 under CI=true and 2 elsewhere, raised by the load per core', () => {
    expect(timeScale({ TEST_TIME_SCALE: '4' })).toBe(4);
    expect(timeScale({ TEST_TIME_SCALE: '1.5', CI: 'true' })).toBe(1.5);
    // Not a number, or below 1: the rule decides.
    expect(timeScale({ TEST_TIME_SCALE: 'fast', CI: 'true' })).toBeGreaterThanOrEqual(3);
    expect(timeScale({ TEST_TIME_SCALE: '0.5' })).toBeGreaterThanOrEqual(2);
    expect(timeScale({ CI: 'true' })).toBeGreaterThanOrEqual(3);
    expect(timeScale({})).toBeGreaterThanOrEqual(2);
    expect(timeScale({})).toBeLessThanOrEqual(6);
  });

  it('multiplies a test’s own timeout (tests/setup/environment.js)', () => {
    expect((globalThis as { scaledTestTimeoutMs?: number }).scaledTestTimeoutMs).toBe(Math.round(1234 * timeScale()));
  }, 1234);

  it('multiplies the configured testTimeout for a test without one', () => {
    expect((globalThis as { scaledTestTimeoutMs?: number }).scaledTestTimeoutMs).toBe(Math.round(60_000 * timeScale()));
  });
});
