import { filter as tester, parse, type Filter } from 'scim2-parse-filter';
import { ScimError } from './errors.ts';
import { enterpriseSchema } from './schema.ts';

/** Attributes compared exactly (RFC 7643: `caseExact: true`); every other string compares ignoring case. */
const caseExact = new Set(['id', 'externalid', 'value']);

const invalidFilter = (detail: string) => new ScimError(400, detail, 'invalidFilter');

const enterprisePrefix = `${enterpriseSchema.toLowerCase()}:`;

/**
 * `urn:…:core:2.0:User:userName` → `userName` when `core` is the resource's schema (RFC 7644 §3.10: a path may start
 * with it, naming nothing more); any other path as it is.
 */
function withoutCoreUrn(path: string, core: string): string {
  return path.toLowerCase().startsWith(`${core.toLowerCase()}:`) ? path.slice(core.length + 1) : path;
}

/** The attribute a filter path names first (`emails[type eq "work"].value` → `emails`, `name.givenName` → `name`). */
function head(path: string, core: string): string {
  const bare = withoutCoreUrn(path, core);
  if (bare.toLowerCase().startsWith(enterprisePrefix)) return enterpriseSchema.toLowerCase();
  return bare.split(/[.[]/, 1)[0]!.toLowerCase();
}

/**
 * Multi-valued attributes whose items have a `value`: named without a sub-attribute, a filter compares that. `schemas`
 * (strings) is matched as items with a `value` too: the tester compares only the items of arrays of objects.
 */
const valued = new Set(
  ['emails', 'phoneNumbers', 'ims', 'photos', 'entitlements', 'roles', 'x509Certificates', 'groups', 'members'].map(
    (a) => a.toLowerCase(),
  ),
).add('schemas');
/** dateTime attributes, compared in time (RFC 7643 §2.3.5): both sides as `toISOString()` gives them. */
const dated = new Set(['meta.created', 'meta.lastmodified']);

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

/** A top-level attribute path as the resources hold it: no core URN; `emails` alone means `emails.value`. */
function resourcePath(path: string, core: string): string {
  const bare = withoutCoreUrn(path, core);
  return valued.has(bare.toLowerCase()) ? `${bare}.value` : bare;
}

/** A dateTime comparison's value as the resources hold them (`2011-05-13T04:42:34Z` → `…34.000Z`). */
function dateValue(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw invalidFilter(`"${value}" is no dateTime`);
  return new Date(time).toISOString();
}

/**
 * The filter as `lowered` resources are matched: top-level paths as `resourcePath` says, dateTimes normalised, string
 * values lower-cased where the attribute ignores case. Inside a value path (`emails[type eq "work"]`; `core` null)
 * paths are the items' own.
 */
function normalised(f: Filter, core: string | null): Filter {
  switch (f.op) {
    case 'and':
    case 'or':
      return { ...f, filters: f.filters.map((c) => normalised(c, core)) };
    case 'not':
      return { ...f, filter: normalised(f.filter, core) };
    case '[]':
      return { ...f, attrPath: withoutCoreUrn(f.attrPath, core!), valFilter: normalised(f.valFilter, null) };
    case 'pr':
      return core === null ? f : { ...f, attrPath: resourcePath(f.attrPath, core) };
    default: {
      const attrPath = core === null ? f.attrPath : resourcePath(f.attrPath, core);
      const compValue = dated.has(attrPath.toLowerCase()) ? dateValue(f.compValue) : f.compValue;
      return {
        ...f,
        attrPath,
        compValue:
          typeof compValue === 'string' && !caseExact.has(lastName(attrPath)) ? compValue.toLowerCase() : compValue,
      } as Filter;
    }
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

/** The resource with `schemas` as items with a `value` (as `resourcePath` names them). */
function withSchemaItems(resource: Record<string, unknown>): Record<string, unknown> {
  const { schemas } = resource;
  return Array.isArray(schemas) ? { ...resource, schemas: schemas.map((value: unknown) => ({ value })) } : resource;
}

export interface ParsedFilter {
  matches(resource: Record<string, unknown>): boolean;
  /** `attr eq "value"` at the top (alone or in an `and`): what a lookup can narrow by before matching. */
  equals(attr: string): string | boolean | undefined;
}

/**
 * A `filter` query parameter (RFC 7644 §3.4.2.2), parsed by scim2-parse-filter: every operator and `and`/`or`/
 * `not`/value paths, paths with their schema's URN; strings compare ignoring case except `id`, `externalId` and
 * `value`, dateTimes in time. A filter that does not parse, or that names an attribute the resource does not have, is
 * `invalidFilter`.
 */
export function parseFilter(text: string, known: ReadonlySet<string>, core: string): ParsedFilter {
  let parsed: Filter;
  try {
    parsed = parse(text);
  } catch (err) {
    throw invalidFilter(`the filter does not parse: ${(err as Error).message}`);
  }
  for (const path of pathsOf(parsed))
    if (!known.has(head(path, core))) throw invalidFilter(`the filter names an unknown attribute "${path}"`);
  const test = tester(normalised(parsed, core));
  const top = parsed.op === 'and' ? parsed.filters : [parsed];
  return {
    matches: (resource) => test(lowered(withSchemaItems(resource))),
    equals(attr) {
      const found = top.find((f) => f.op === 'eq' && f.attrPath.toLowerCase() === attr.toLowerCase());
      const value = found && found.op === 'eq' ? found.compValue : undefined;
      return typeof value === 'string' || typeof value === 'boolean' ? value : undefined;
    },
  };
}
