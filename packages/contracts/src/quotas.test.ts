import { describe, expect, it } from '@jest/globals';
import { isTimeZone, quotaPeriod, toolPatternMatches } from './quotas.ts';

describe('quota windows', () => {
  it('are calendar windows in the stated time zone', () => {
    const at = Date.UTC(2026, 0, 31, 23, 30, 15); // 2026-01-31 23:30:15 UTC
    expect(quotaPeriod('minute', 'UTC', at)).toEqual({ id: '2026-01-31T23:30', endsAt: Date.UTC(2026, 0, 31, 23, 31) });
    expect(quotaPeriod('hour', 'UTC', at)).toEqual({ id: '2026-01-31T23', endsAt: Date.UTC(2026, 1, 1, 0) });
    expect(quotaPeriod('day', 'UTC', at)).toEqual({ id: '2026-01-31', endsAt: Date.UTC(2026, 1, 1) });
    expect(quotaPeriod('month', 'UTC', at)).toEqual({ id: '2026-01', endsAt: Date.UTC(2026, 1, 1) });
    // In Tokyo (UTC+9) it is already 1 February, 08:30.
    expect(quotaPeriod('month', 'Asia/Tokyo', at)).toEqual({ id: '2026-02', endsAt: Date.UTC(2026, 1, 28, 15) });
    expect(quotaPeriod('day', 'Asia/Tokyo', at).endsAt).toBe(Date.UTC(2026, 1, 1, 15));
    // Half-hour zones: an hour ends at :30 UTC.
    expect(quotaPeriod('hour', 'Asia/Kolkata', at).endsAt).toBe(Date.UTC(2026, 1, 1, 0, 30));
    // December rolls over to January.
    expect(quotaPeriod('month', 'UTC', Date.UTC(2026, 11, 15)).endsAt).toBe(Date.UTC(2027, 0, 1));
  });

  it('follow clock changes: the day of a spring-forward change lasts 23 hours', () => {
    const day = quotaPeriod('day', 'Europe/Berlin', Date.UTC(2026, 2, 29, 10)); // 29 March 2026, CEST from 02:00
    expect(day.id).toBe('2026-03-29');
    expect(day.endsAt).toBe(Date.UTC(2026, 2, 29, 22)); // midnight CEST (UTC+2)
    const before = quotaPeriod('day', 'Europe/Berlin', Date.UTC(2026, 2, 28, 10));
    expect(day.endsAt - before.endsAt).toBe(23 * 3_600_000);
  });
});

describe('tool patterns', () => {
  it('match names exactly, or with * for any run of characters', () => {
    expect(toolPatternMatches('send_message', 'send_message')).toBe(true);
    expect(toolPatternMatches('send_message', 'send_messages')).toBe(false);
    expect(toolPatternMatches('send_*', 'send_message')).toBe(true);
    expect(toolPatternMatches('*_ticket', 'create_ticket')).toBe(true);
    expect(toolPatternMatches('a*b*c', 'abc')).toBe(true);
    expect(toolPatternMatches('a*b*c', 'acb')).toBe(false);
    expect(toolPatternMatches('ab*ba', 'aba')).toBe(false);
    expect(toolPatternMatches('*', 'anything')).toBe(true);
  });

  it('time zones are IANA names', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });
});
