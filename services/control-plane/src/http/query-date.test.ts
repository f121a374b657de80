import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { requestIssues } from './error-handler.ts';
import { QueryDate } from './query-date.ts';

const Query = z.object({ from: QueryDate.optional(), to: QueryDate.optional() });

describe('QueryDate', () => {
  it('reads ISO 8601 dates and date-times', () => {
    expect(Query.parse({ to: '2026-01-01T11:00:00.000Z' }).to).toEqual(new Date('2026-01-01T11:00:00.000Z'));
    expect(Query.parse({ to: '2026-01-01T12:00:00+01:00' }).to).toEqual(new Date('2026-01-01T11:00:00.000Z'));
    expect(Query.parse({ from: '2026-01-01' }).from).toEqual(new Date('2026-01-01T00:00:00.000Z'));
    expect(Query.parse({ from: '0001-01-01T00:00:00Z', to: '9999-12-31T23:59:59.999Z' })).toEqual({
      from: new Date('0001-01-01T00:00:00.000Z'),
      to: new Date('9999-12-31T23:59:59.999Z'),
    });
  });

  it('refuses unparseable and out-of-range dates, naming the parameter', () => {
    for (const bad of [
      'yesterday',
      '10000-01-01',
      '+010000-01-01T00:00:00Z',
      '-000001-01-01T00:00:00Z',
      '0000-01-01T00:00:00Z',
      '275760-09-13',
      '99999',
      '-1',
      '1e20',
      '2026-02-30',
      '2026-13-01',
      '',
    ]) {
      const r = Query.safeParse({ to: bad });
      expect({ bad, success: r.success }).toEqual({ bad, success: false });
      expect(requestIssues(r.error!)).toEqual([{ path: '/to', message: expect.stringMatching(/date/) }]);
    }
  });
});
