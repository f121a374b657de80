import { describe, expect, it } from '@jest/globals';
import { BacktestSlots } from './backtest-slots.ts';

describe('BacktestSlots', () => {
  it('holds at most the per-workspace and per-control-plane counts; beyond, 429 with Retry-After', () => {
    const slots = new BacktestSlots({ max: 2, perWorkspace: 1, retryAfterSeconds: 7 });
    const a = slots.take('a');
    expect(() => slots.take('a')).toThrow(expect.objectContaining({ status: 429, details: { retryAfterSeconds: 7 } }));
    const b = slots.take('b');
    expect(() => slots.take('c')).toThrow(/2 backtests are already running/);
    a();
    a(); // freed once only
    expect(() => slots.take('b')).toThrow(/of this workspace/);
    const c = slots.take('c');
    expect(() => slots.take('a')).toThrow(/2 backtests/);
    b();
    c();
    slots.take('a');
  });
});
