import { filter as tester, parse, type Filter } from 'scim2-parse-filter';
import { ScimError } from './errors.ts';

/** Attributes compared exactly (RFC 7643: `caseExact: true`); every other string compares ignoring case. */
const caseExact = new Set(['id', 'externalid', 'value']);

const invalidFilter = (detail: string) => new ScimError(400, detail, 'invalidFilter');

/** The attribute a filter path names first (`emails[type eq "work"].value` → `emails`, `name.givenName` → `name`). */
function head(path: string): string {
  return path.split(/[.[]/, 1)[0]!.toLowerCase();
}

/** Every attribute path of a parsed filter. */
function pathsOf(f: Filter): string[] {
  switch (f.op) {
    case 'and':
    case 'or':
      return f.filters.flatMap(pathsOf);
    case 'not':
      return pathsOf(f.filter);
    case '[]':
      return [f.attrPath];
    default:
      return [f.attrPath];
  }
}

/** The filter with its string values lower-cased where the attribute ignores case (matched against `lowered`). */
function lowerValues(f: Filter): Filter {
  switch (f.op) {
    case 'and':
    case 'or':
      return { ...f, filters: f.filters.map(lowerValues) };
    case 'not':
      return { ...f, filter: lowerValues(f.filter) };
    case '[]':
      return { ...f, valFilter: lowerValues(f.valFilter) };
    case 'pr':
      return f;
    default:
      return typeof f.compValue === 'string' && !caseExact.has(lastName(f.attrPath))
        ? { ...f, compValue: f.compValue.toLowerCase() }
        : f;
  }
}

function lastName(path: string): string {
  return path.split('.').at(-1)!.toLowerCase();
}

/** A resource with its strings lower-cased except those of case-exact attributes. */
function lowered(value: unknown, key = ''): unknown {
  if (typeof value === 'string') return caseExact.has(key.toLowerCase()) ? value : value.toLowerCase();
  if (Array.isArray(value)) return value.map((v) => lowered(v, key));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, lowered(v, k)]));
  return value;
}

export interface ParsedFilter {
  matches(resource: Record<string, unknown>): boolean;
  /** `attr eq "value"` at the top (alone or in an `and`): what a lookup can narrow by before matching. */
  equals(attr: string): string | boolean | undefined;
}

/**
 * A `filter` query parameter (RFC 7644 §3.4.2.2), parsed by scim2-parse-filter: every operator and `and`/`or`/
 * `not`/value paths; strings compare ignoring case except `id`, `externalId` and `value`. A filter that does not parse,
 * or that names an attribute the resource does not have, is `invalidFilter`.
 */
export function parseFilter(text: string, known: ReadonlySet<string>): ParsedFilter {
  let parsed: Filter;
  try {
    parsed = parse(text);
  } catch (err) {
    throw invalidFilter(`the filter does not parse: ${(err as Error).message}`);
  }
  for (const path of pathsOf(parsed))
    if (!known.has(head(path))) throw invalidFilter(`the filter names an unknown attribute "${path}"`);
  const test = tester(lowerValues(parsed));
  const top = parsed.op === 'and' ? parsed.filters : [parsed];
  return {
    matches: (resource) => test(lowered(resource)),
    equals(attr) {
      const found = top.find((f) => f.op === 'eq' && f.attrPath.toLowerCase() === attr.toLowerCase());
      const value = found && found.op === 'eq' ? found.compValue : undefined;
      return typeof value === 'string' || typeof value === 'boolean' ? value : undefined;
    },
  };
}
