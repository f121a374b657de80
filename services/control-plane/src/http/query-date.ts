import { ValidationError } from '@toolplane/errors';
import { z } from 'zod';

/** The earliest and the latest instant a query date may name: years 1 to 9999, what PostgreSQL's ISO input takes. */
export const QUERY_DATE_MIN_MS = Date.parse('0001-01-01T00:00:00.000Z');
export const QUERY_DATE_MAX_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** `2026-01-01`, `2026-01-01T11:00`, `…:00`, `…:00.123`, each with `Z`, an offset (`+01:00`, `+0100`) or none (UTC). */
const isoDate =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/;

/** The instant an ISO 8601 date or date-time names; undefined for anything else (no day 30 of February). */
function parse(text: string): number | undefined {
  const m = isoDate.exec(text);
  if (!m) return undefined;
  const [, year, month, day, hour = '00', minute = '00', second = '00', fraction = '', zone = 'Z'] = m;
  const date = new Date(0);
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  if (date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day)) return undefined;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return undefined;
  const offset = /^[Zz]$/.test(zone) ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const ms = Date.parse(
    `${year}-${month}-${day}T${hour}:${minute}:${second}.${fraction.padEnd(3, '0').slice(0, 3)}${offset}`,
  );
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * A date in a query string (`GET /stats?to=`, `GET /execution_records?from=&to=`): an ISO 8601 date or date-time
 * (without an offset: UTC) in the years 1 to 9999. Anything else, `new Date()`'s guesses included (`-1` would be
 * 2001), is a 422 naming the parameter, never a 500 from the database.
 */
export const QueryDate = z.string().transform((text, ctx) => {
  const ms = parse(text);
  if (ms === undefined || ms < QUERY_DATE_MIN_MS || ms > QUERY_DATE_MAX_MS) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an ISO 8601 date or date-time (2026-01-01T11:00:00Z) in the years 0001 to 9999',
    });
    return z.NEVER;
  }
  return new Date(ms);
});

const DAY_MS = 86_400_000;

/** A period asked for (`from` < `to`, at most `maxDays` long), as given; a 422 on `/from` otherwise. */
export function checkedPeriod(from: Date, to: Date, maxDays: number): { from: Date; to: Date } {
  const problems = [];
  if (from >= to) problems.push({ path: '/from', message: `must be before to (${to.toISOString()})` });
  else if (to.getTime() - from.getTime() > maxDays * DAY_MS)
    problems.push({ path: '/from', message: `the period may cover at most ${maxDays} days` });
  if (problems.length > 0) throw new ValidationError('the request is invalid', problems, 'request.invalid', 422);
  return { from, to };
}
