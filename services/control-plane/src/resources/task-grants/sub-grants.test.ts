import { describe, expect, it } from '@jest/globals';
import { wideningProblems, type ParentGrant } from './sub-grants.ts';

const now = Date.parse('2026-11-29T12:00:00Z');
const parent: ParentGrant = {
  id: 'p1',
  person: 'ann',
  tools: ['search_tickets', 'get_ticket'],
  calls: 10,
  expiresAt: new Date(now + 3_600_000),
  offGrant: 'refuse',
  mode: 'enforced',
  revokedAt: null,
};
const narrower = {
  person: 'ann',
  tools: ['search_tickets'],
  calls: 10,
  expiresAt: new Date(now + 3_600_000).toISOString(),
  offGrant: 'refuse' as 'hold' | 'refuse',
  mode: 'enforced' as 'enforced' | 'log_only',
};
const paths = (p: ParentGrant, asked: Partial<typeof narrower>) =>
  wideningProblems(p, { ...narrower, ...asked }, now).map((i) => i.path);

describe('a sub-grant', () => {
  it('may keep or narrow every field of its parent', () => {
    expect(paths(parent, {})).toEqual([]);
    expect(paths(parent, { tools: ['get_ticket', 'search_tickets'], calls: 0 })).toEqual([]);
    expect(paths({ ...parent, offGrant: 'hold', mode: 'log_only' }, { offGrant: 'refuse', mode: 'enforced' })).toEqual(
      [],
    );
  });

  it('is refused for each field that widens, every one listed', () => {
    expect(
      paths(parent, {
        person: 'bob',
        tools: ['search_tickets', 'delete_ticket', 'close_ticket'],
        calls: 11,
        expiresAt: new Date(now + 3_600_001).toISOString(),
        offGrant: 'hold',
        mode: 'log_only',
      }),
    ).toEqual(['/person', '/tools/1', '/tools/2', '/calls', '/expiresAt', '/offGrant', '/mode']);
  });

  it('derives from no revoked or expired grant', () => {
    expect(paths({ ...parent, revokedAt: new Date(now - 1) }, {})).toEqual(['/parent']);
    expect(paths({ ...parent, expiresAt: new Date(now) }, { expiresAt: new Date(now).toISOString() })).toEqual([
      '/parent',
    ]);
  });
});
