import { isValidIBAN } from 'ibantools';
import { nationalIdCountries, piiTypes, type PiiType } from '@toolplane/contracts';
import { hasDigit, patternDetector, type Detector, type NamedPattern } from './detector.ts';

const digits = (s: string) => s.replace(/\D/g, '');

/** The Luhn checksum of a card number (ISO/IEC 7812). */
export function luhnValid(number: string): boolean {
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let d = number.charCodeAt(number.length - 1 - i) - 48;
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * A payment card: the lengths and leading digits of the networks that issue most cards (Visa 4, 13/16/19 digits;
 * Mastercard 51-55 and 2221-2720, 16; American Express 34/37, 15; Discover 6011/65/644-649, 16-19; JCB 35, 16-19;
 * Diners 36/38/30, 14), and the Luhn checksum. Epoch milliseconds (13 digits starting with 1) never match.
 */
function cardValid(matched: string): boolean {
  const n = digits(matched);
  const len = n.length;
  const ok =
    (n[0] === '4' && (len === 13 || len === 16 || len === 19)) ||
    (/^(?:5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720))/.test(n) && len === 16) ||
    (/^3[47]/.test(n) && len === 15) ||
    (/^(?:6011|65|64[4-9])/.test(n) && len >= 16 && len <= 19) ||
    (/^35/.test(n) && len >= 16 && len <= 19) ||
    (/^3[068]/.test(n) && len === 14);
  return ok && luhnValid(n);
}

/** The French NIR's key: 97 minus the number modulo 97 (Corsica's 2A and 2B counted as 19 and 18). */
function nirValid(matched: string): boolean {
  const compact = matched.replace(/\s/g, '').toUpperCase();
  if (compact.length !== 15) return false;
  const body = compact.slice(0, 13).replace('2A', '19').replace('2B', '18');
  return 97 - Number(BigInt(body) % 97n) === Number(compact.slice(13));
}

const nationalIds: Record<(typeof nationalIdCountries)[number], NamedPattern> = {
  // Dashed form only (a bare nine-digit number is too often something else); never 000, 666 or 9xx, 00, 0000.
  US: {
    name: 'national_id_us_ssn',
    pattern: /(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])/g,
    prefilter: (t) => t.includes('-'),
  },
  // National Insurance number: the prefixes HMRC never issues (D, F, I, Q, U, V; BG, GB, KN, NK, NT, TN, ZZ) excluded.
  GB: {
    name: 'national_id_uk_nino',
    pattern: /\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b/g,
    prefilter: hasDigit,
  },
  // Numéro d'inscription au répertoire (sécurité sociale): 15 characters with its key checked.
  FR: {
    name: 'national_id_fr_nir',
    pattern:
      /(?<![\dA-Za-z])[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?![\dA-Za-z])/gi,
    prefilter: hasDigit,
    check: nirValid,
  },
};

const byType: Record<Exclude<PiiType, 'national_id'>, NamedPattern> = {
  email: {
    name: 'email',
    pattern: /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/g,
    prefilter: (t) => t.includes('@'),
  },
  // International format (E.164: a country code, 8 to 15 digits in all), with spaces, dots, dashes or brackets.
  phone: {
    name: 'phone',
    pattern: /(?<![\w+])\+[1-9][\d .()-]{6,22}\d(?!\w)/g,
    prefilter: (t) => t.includes('+'),
    check: (m) => digits(m).length >= 8 && digits(m).length <= 15,
  },
  // An IBAN, electronic or printed in groups of four, with its country's length and mod-97 checksum (ibantools).
  iban: {
    name: 'iban',
    pattern: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b/g,
    prefilter: hasDigit,
    check: (m) => isValidIBAN(m.replace(/ /g, '')),
  },
  card: {
    name: 'card',
    pattern: /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g,
    prefilter: hasDigit,
    check: cardValid,
  },
};

/** The `pii` detector for the given types (absent: all) and countries' national ids (absent: all known). */
export function piiDetector(types?: readonly PiiType[], countries?: readonly string[]): Detector {
  const wanted = new Set(types ?? piiTypes);
  const patterns: NamedPattern[] = [];
  for (const t of ['email', 'phone', 'iban', 'card'] as const) if (wanted.has(t)) patterns.push(byType[t]);
  if (wanted.has('national_id'))
    for (const c of countries ?? nationalIdCountries) patterns.push(nationalIds[c as keyof typeof nationalIds]);
  return patternDetector('pii', patterns);
}
