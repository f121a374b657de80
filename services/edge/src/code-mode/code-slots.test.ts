import { describe, expect, it } from '@jest/globals';
import { programCaller, ProgramSlots, type ProgramSlot } from './code-slots.ts';

// How many `run_code` programs run at once (ADR 0068): bounded on the edge and per caller, refused past either.

const held = (s: ProgramSlot | { refused: string }): ProgramSlot => {
  if ('refused' in s) throw new Error(`refused (${s.refused})`);
  return s;
};

describe('ProgramSlots', () => {
  it('refuses a caller past its bound while others still run, and the edge past its own', () => {
    const slots = new ProgramSlots({ perEdge: 3, perCaller: 2 });
    const a1 = held(slots.take('a'));
    held(slots.take('a'));
    expect(slots.take('a')).toEqual({ refused: 'caller' });
    const b1 = held(slots.take('b'));
    expect(slots.take('c')).toEqual({ refused: 'edge' });
    expect([slots.count(), slots.count('a'), slots.count('b')]).toEqual([3, 2, 1]);
    // A program that ends gives its place back, once however often it is released.
    a1.release();
    a1.release();
    expect([slots.count(), slots.count('a')]).toEqual([2, 1]);
    held(slots.take('c'));
    expect(slots.take('a')).toEqual({ refused: 'edge' });
    b1.release();
    held(slots.take('a'));
    expect(slots.take('a')).toEqual({ refused: 'caller' });
  });
});

describe('programCaller', () => {
  it('a person, else the key, else the OAuth subject, else the anonymous caller’s address (IPv6 by its /64)', () => {
    expect(programCaller({ workspaceId: 'w', keyId: 'k1', userId: 'u1', username: 'ada' }, '10.0.0.1')).toBe(
      'person:u1',
    );
    expect(programCaller({ workspaceId: 'w', keyId: 'k1' }, '10.0.0.1')).toBe('key:k1');
    expect(programCaller({ workspaceId: 'w', subject: 'user-7' }, '10.0.0.1')).toBe('oauth:user-7');
    const anonymous = { workspaceId: 'w', subject: 'anonymous' };
    expect(programCaller(anonymous, '::ffff:203.0.113.7')).toBe('address:203.0.113.7');
    expect(programCaller(anonymous, '2001:db8:1:2::5')).toBe(programCaller(anonymous, '2001:db8:1:2:ffff::1'));
    expect(programCaller(anonymous, '203.0.113.7')).not.toBe(programCaller(anonymous, '203.0.113.8'));
  });
});
