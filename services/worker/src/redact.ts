import type { ToolResultPayload } from '@toolplane/contracts';
import { LRUCache } from 'lru-cache';

const REDACTED = '[redacted]';

/** Secret values shorter than this are not searched for (they would match ordinary text). */
const MIN_SECRET_LENGTH = 4;

/** A base64 window of a secret inside a longer base64 text is searched for from this many characters on. */
const MIN_BASE64_WINDOW = 6;

const hex2 = (byte: number) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
const hex4 = (unit: number) => `\\u${unit.toString(16).padStart(4, '0')}`;

/**
 * The percent-encodings the worker's request builders apply to a value, each computed by the encoder
 * itself: `encodeURIComponent` (path values, cookies, workflow query values), strict RFC 3986 (also
 * `!'()*`), `URLSearchParams` (OpenAPI query credentials, form bodies: `+` for a space, and the `%20`
 * form the query builder sends), and the WHATWG URL serialiser (`new URL`, used by the workflow engine
 * and by got) for raw text in a path, a query, a fragment or user info.
 */
function percentForms(value: string): string[] {
  const forms: string[] = [];
  let uri: string | undefined;
  try {
    uri = encodeURIComponent(value);
  } catch {
    // A lone surrogate: nothing can send it as such (URLs and bodies carry U+FFFD instead).
  }
  if (uri !== undefined) {
    // Strict RFC 3986 (unreserved characters only), and all but alphanumerics and `-._` (`~` too).
    const strict = uri.replace(/[!'()*]/g, (c) => hex2(c.charCodeAt(0)));
    forms.push(uri, strict, strict.replace(/~/g, '%7E'));
    // The workflow engine's Flower encoder keeps `%XX` escapes already in the value.
    forms.push(
      value
        .split(/(%[0-9A-Fa-f]{2})/)
        .map((part, i) => (i % 2 === 1 ? part : encodeURIComponent(part)))
        .join(''),
    );
  }
  const form = new URLSearchParams([['', value]]).toString().slice(1);
  forms.push(form, form.replace(/\+/g, '%20'));
  const url = new URL('http://h/');
  url.pathname = `/${value}`;
  forms.push(url.pathname.slice(1));
  url.search = `?${value}`;
  forms.push(url.search.slice(1));
  url.hash = `#${value}`;
  forms.push(url.hash.slice(1));
  url.username = value;
  forms.push(url.username);
  return forms;
}

/** A value inside a JSON string (as `JSON.stringify` writes it, with `\/` for `/`, and ASCII-only with `\uXXXX`). */
function jsonForms(value: string): string[] {
  const plain = JSON.stringify(value).slice(1, -1);
  const ascii = plain.replace(/[\u007f-\uffff]/g, (c) => hex4(c.charCodeAt(0)));
  return [plain, ascii, plain.replace(/\//g, '\\/'), ascii.replace(/\//g, '\\/')];
}

/**
 * The base64 and base64url forms of a value: alone (no padding: a padded one contains it), and the
 * windows that stay the same wherever the value sits inside longer base64 text (a Basic `user:secret`,
 * a token that embeds it), for each of the three byte alignments.
 */
function base64Forms(value: string): string[] {
  const bytes = Buffer.from(value);
  const forms: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    // Characters whose 6 bits all come from the value's bytes.
    const window =
      shift === 0
        ? encoded.replace(/=+$/, '')
        : encoded.slice(Math.ceil((8 * shift) / 6), Math.floor((8 * (shift + bytes.length)) / 6));
    if (shift === 0 || window.length >= MIN_BASE64_WINDOW)
      forms.push(window, window.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms;
}

/**
 * The HTML forms of a value, as an upstream's error page quotes it: the five special characters as named entities
 * (`&#39;` or `&#x27;` for the apostrophe), every character as a decimal or a hexadecimal numeric entity, and every
 * character but letters and digits as one (the hex digits' and the `x`'s case: the pattern ignores case).
 */
function htmlForms(value: string): string[] {
  const named = (apostrophe: string) =>
    value
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, apostrophe);
  const chars = [...value];
  const decimal = (c: string) => `&#${c.codePointAt(0)};`;
  const hex = (c: string) => `&#x${c.codePointAt(0)!.toString(16)};`;
  const special = (entity: (c: string) => string) => chars.map((c) => (/[A-Za-z0-9]/.test(c) ? c : entity(c))).join('');
  return [
    named('&#39;'),
    named('&#x27;'),
    chars.map(decimal).join(''),
    chars.map(hex).join(''),
    special(decimal),
    special(hex),
  ];
}

/** A value inside JSON strings nested one and two levels deep, and, with `three`, three (a JSON body echoed twice). */
function nestedJsonForms(form: string, three: boolean): string[] {
  const forms: string[] = [];
  for (const one of jsonForms(form)) {
    const two = JSON.stringify(one).slice(1, -1);
    forms.push(one, two);
    if (three) forms.push(JSON.stringify(two).slice(1, -1));
  }
  return forms;
}

/** A value percent-encoded twice (a URL quoted in a query parameter: `%` as `%25`), by the two encoders of values. */
function doublePercentForms(value: string): string[] {
  try {
    const once = encodeURIComponent(value);
    const form = new URLSearchParams([['', value]]).toString().slice(1);
    return [encodeURIComponent(once), encodeURIComponent(form)];
  } catch {
    return []; // a lone surrogate: never sent as such
  }
}

/**
 * Every form of a secret value the worker may have put on the wire, and the way an upstream echoes
 * it back: as is, each percent-encoding in use (and the value encoded twice), inside a JSON string
 * (twice for a JSON body echoed inside JSON; the value as is up to three levels), base64 / base64url,
 * HTML-escaped (named and numeric entities). The pattern ignores case: upper- or lower-cased echoes and the case
 * of hex escapes are found too. An `Authorization` value (`Basic …`, `Bearer …`: the exact value the
 * worker sent) also gives its credentials part alone.
 */
function secretForms(value: string): string[] {
  const forms = new Set<string>();
  const add = (v: string) => {
    for (const f of [v, ...percentForms(v)]) {
      forms.add(f);
      // Three levels of JSON for the value as is (each level doubles the escapes: the forms stay bounded).
      for (const j of nestedJsonForms(f, f === v)) forms.add(j);
    }
    for (const f of [...doublePercentForms(v), ...htmlForms(v)]) forms.add(f);
    for (const b of base64Forms(v)) forms.add(b);
  };
  add(value);
  // `<scheme> <token68>` (RFC 9110, 11.4)
  const credentials = /^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]* +([A-Za-z0-9._~+/-]{8,}=*)$/.exec(value)?.[1];
  if (credentials) add(credentials);
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH || f === value);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The needles of each value used recently (its forms): values repeat from call to call. */
const needleCache = new LRUCache<string, string[]>({ max: 5000 });

function needlesOf(value: string): string[] {
  let needles = needleCache.get(value);
  if (!needles) {
    needles = secretForms(value);
    needleCache.set(value, needles);
  }
  return needles;
}

/** One compiled pattern per set of secret values (the calls of one API share theirs). */
const patterns = new LRUCache<string, RegExp>({ max: 1000 });

/**
 * One pattern of every form of the given secret values (literal alternatives, global, ignoring case: an echo
 * upper-cased, a hex escape in either case), or none.
 */
export function patternFor(secretValues: Iterable<string | undefined>): RegExp | undefined {
  const values = new Set<string>();
  for (const v of secretValues) if (v && v.length >= MIN_SECRET_LENGTH) values.add(v);
  if (values.size === 0) return undefined;
  const key = [...values].sort().join('\u0000');
  let pattern = patterns.get(key);
  if (!pattern) {
    // Literal alternatives only (no backtracking between them), the longest first: a longer form wins
    // over one it contains, a longer value over one inside it.
    const needles = [...new Set([...values].flatMap(needlesOf))].sort((a, b) => b.length - a.length);
    pattern = new RegExp(needles.map(escapeRegExp).join('|'), 'gi');
    patterns.set(key, pattern);
  }
  return pattern;
}

/**
 * `text` with every form of the given secret values replaced by `[redacted]`; a JSON text with escapes is also
 * decoded and redacted as JSON, then written again (compact) when something was (`scrubbedText`).
 */
export function redactText(text: string, secretValues: Iterable<string | undefined>): string {
  const pattern = patternFor(secretValues);
  return pattern ? scrubbedText(text, pattern, 0) : text;
}

/** How deep JSON texts inside JSON texts are decoded (a JSON body echoed inside JSON, twice). */
const MAX_JSON_DEPTH = 3;

/**
 * `text` with `pattern` replaced; and, when it is a JSON text with escapes (`\u0073`: a spelling no form lists, as an
 * upstream may write any character), decoded (up to three levels of JSON inside JSON), its strings, numbers and keys
 * redacted, and written again, compact, when something was: nothing written after it decodes a secret it hid.
 */
function scrubbedText(text: string, pattern: RegExp, depth: number): string {
  const plain = text.replace(pattern, REDACTED);
  if (depth >= MAX_JSON_DEPTH || !plain.includes('\\') || !/^\s*[[{"]/.test(plain)) return plain;
  let parsed: unknown;
  try {
    parsed = JSON.parse(plain);
  } catch {
    return plain; // not JSON (or cut): as text only
  }
  const clean = scrubbed(parsed, pattern, depth + 1);
  return clean === parsed ? plain : JSON.stringify(clean);
}

/**
 * Removes every form of the given secret values (`secretForms`) from a tool result before it leaves the
 * worker, in text, structured content and object keys: upstreams sometimes echo credentials in bodies
 * or error messages, and the result goes to the model. Also used for record URLs and debug captures.
 */
export function redactSecrets(
  result: ToolResultPayload,
  secretValues: Iterable<string | undefined>,
): ToolResultPayload {
  const pattern = patternFor(secretValues);
  if (!pattern) return result;
  return scrubbed(result, pattern, 0) as ToolResultPayload;
}

/**
 * `value` with `pattern` replaced in every string (a JSON text with escapes decoded too, `scrubbedText`), number (its
 * decimal text: a secret of digits sent back as a JSON number) and object key, copied only where something was
 * replaced: a result without a secret (nearly all) comes back as it is, with no copy of an API answer's whole tree.
 */
function scrubbed(value: unknown, pattern: RegExp, depth: number): unknown {
  if (typeof value === 'string') return scrubbedText(value, pattern, depth);
  if (typeof value === 'number') {
    const text = String(value);
    const clean = text.replace(pattern, REDACTED);
    return clean === text ? value : clean;
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const clean = scrubbed(item, pattern, depth);
      if (clean !== item) (copy ??= value.slice())[i] = clean;
    }
    return copy ?? value;
  }
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  let entries: [string, unknown][] | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const item = record[key];
    const cleanKey = key.replace(pattern, REDACTED);
    const clean = scrubbed(item, pattern, depth);
    if (!entries && (cleanKey !== key || clean !== item)) entries = keys.slice(0, i).map((k) => [k, record[k]]);
    entries?.push([cleanKey, clean]);
  }
  // `fromEntries` defines every key as an own property (a `__proto__` key stays a key).
  return entries ? Object.fromEntries(entries) : value;
}

/** Any JSON value (a debug capture, a relayed notification) with every form of the secret values redacted, as above. */
export function redactValue<T>(value: T, secretValues: Iterable<string | undefined>): T {
  const pattern = patternFor(secretValues);
  return pattern ? (scrubbed(value, pattern, 0) as T) : value;
}

/**
 * `text` percent-decoded (`+` as a space too with `plus`), with, for each character of the decoded
 * text, where it came from in `text` (`from` inclusive, `to` exclusive).
 */
function percentDecodedWithMap(text: string, plus: boolean): { decoded: string; from: number[]; to: number[] } {
  let decoded = '';
  const from: number[] = [];
  const to: number[] = [];
  const push = (s: string, start: number, end: number) => {
    for (let k = 0; k < s.length; k++) {
      from.push(start);
      to.push(end);
    }
    decoded += s;
  };
  const byteAt = (i: number) =>
    text[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3)) ? parseInt(text.slice(i + 1, i + 3), 16) : -1;
  let i = 0;
  while (i < text.length) {
    const lead = byteAt(i);
    if (lead < 0) {
      push(plus && text[i] === '+' ? ' ' : text[i]!, i, i + 1);
      i++;
      continue;
    }
    // One UTF-8 sequence of escapes (1 to 4 bytes); an invalid one decodes byte by byte.
    const length = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    const bytes = [lead];
    for (let k = 1; k < length && byteAt(i + 3 * k) >= 0x80 && byteAt(i + 3 * k) < 0xc0; k++)
      bytes.push(byteAt(i + 3 * k));
    if (bytes.length === length) {
      push(Buffer.from(bytes).toString('utf8'), i, i + 3 * length);
      i += 3 * length;
    } else {
      push(String.fromCharCode(lead), i, i + 3);
      i += 3;
    }
  }
  return { decoded, from, to };
}

/**
 * The forms of the secret values in a request as the worker sent it, read from its bytes: the parts of
 * its URL and header values that decode (percent-encoding, `+` for a space) to a secret, however they
 * were encoded (the WHATWG serialiser encodes raw text in a workflow URL differently in the path, the
 * query and the fragment), and each base64 token of a header whose decoded text holds a secret (the
 * `Authorization: Basic` value the worker built, wherever the secret sits in it). Redact them with the
 * values themselves.
 */
export function sentSecretForms(
  request: { url: string; headers: Record<string, string> },
  secretValues: Iterable<string | undefined>,
): string[] {
  const values = [...secretValues].filter((v): v is string => !!v && v.length >= MIN_SECRET_LENGTH);
  if (values.length === 0) return [];
  const found = new Set<string>();
  for (const text of [request.url, ...Object.values(request.headers)]) {
    if (text.includes('%') || text.includes('+'))
      for (const plus of [false, true]) {
        const { decoded, from, to } = percentDecodedWithMap(text, plus);
        for (const v of values)
          for (let at = decoded.indexOf(v); at >= 0; at = decoded.indexOf(v, at + 1))
            found.add(text.slice(from[at], to[at + v.length - 1]));
      }
  }
  // A token decodes to at most 3 characters per 4: one too short for the shortest value cannot hold a value.
  let shortest = Infinity;
  for (const v of values) shortest = Math.min(shortest, v.length);
  for (const header of Object.values(request.headers))
    for (const token of header.match(/[A-Za-z0-9+/_-]{6,}={0,2}/g) ?? []) {
      if ((token.length * 3) >> 2 < shortest) continue;
      const text = Buffer.from(token, 'base64').toString('utf8');
      // OAuth client credentials are percent-encoded before base64 (RFC 6749, 2.3.1).
      const decoded = text.includes('%') ? percentDecodedWithMap(text, false).decoded : text;
      if (values.some((v) => text.includes(v) || decoded.includes(v))) found.add(token);
    }
  for (const v of values) found.delete(v);
  return [...found];
}
