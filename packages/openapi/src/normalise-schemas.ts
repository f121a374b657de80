import { isObject, type Json } from './json-pointer.ts';

export type Warn = (path: (string | number)[], message: string) => void;
type Path = (string | number)[];
/** A location built while walking: the array is only made when there is something to report. */
type At = Path | { up: At; key: string | number };

function at(up: At, ...keys: (string | number)[]): At {
  let cur = up;
  for (const key of keys) cur = { up: cur, key };
  return cur;
}

function materialise(p: At): Path {
  const keys: (string | number)[] = [];
  let cur = p;
  while (!Array.isArray(cur)) {
    keys.push(cur.key);
    cur = cur.up;
  }
  return [...cur, ...keys.reverse()];
}

const jsonTypes = new Set(['string', 'number', 'integer', 'boolean', 'array', 'object', 'null']);
const schemaMaps = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
const schemaSingles = new Set([
  'additionalProperties',
  'additionalItems',
  'not',
  'if',
  'then',
  'else',
  'contains',
  'propertyNames',
  'unevaluatedProperties',
  'unevaluatedItems',
  'contentSchema',
]);
const schemaLists = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
const counts = new Set([
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'minContains',
  'maxContains',
]);
/** Keywords that describe a nullable schema and stay outside the `anyOf` it is rewritten to. */
const annotations = new Set([
  'title',
  'description',
  'default',
  'example',
  'examples',
  'readOnly',
  'writeOnly',
  'deprecated',
  'externalDocs',
  'xml',
]);

function validPattern(p: string): boolean {
  try {
    new RegExp(p, 'u');
    return true;
  } catch {
    return false;
  }
}

/**
 * Rewrites one schema (and its subschemas) in place from OpenAPI 3.0 / Swagger dialect to JSON Schema
 * 2020-12: `nullable` (and `x-nullable`) become `null` in `type` (or an `anyOf` with `{type: 'null'}`
 * when there is no type), boolean `exclusiveMinimum/Maximum` become numbers, array `items` become
 * `prefixItems`, `type: file` a binary string. Keywords whose values Ajv would refuse (a `pattern` that is
 * not a Unicode regular expression, `required: true`, a count that is not a number…) are dropped with a
 * warning, so that every tool schema compiles.
 */
function normaliseSchema(schema: unknown, path: At, warn: Warn, seen: WeakSet<object>): void {
  if (!isObject(schema) || seen.has(schema)) return;
  seen.add(schema);
  if (typeof schema.$ref === 'string') nullableRefAsAnyOf(schema);
  // One pass over the keys present (JSON objects have many shapes: lookups of absent keywords are what costs).
  for (const key of Object.keys(schema)) {
    if (!(key in schema)) continue; // removed by an earlier keyword (exclusiveMinimum takes minimum)
    const why = keywordProblem(schema, key, path, warn);
    if (why !== undefined) {
      delete schema[key];
      warn(materialise(at(path, key)), why);
    }
  }
  const wrapped = nullableAsNull(schema);
  if (wrapped) normaliseSchema(wrapped, at(path, 'anyOf', 0), warn, seen);
  else normaliseSubschemas(schema, path, warn, seen);
}

/**
 * A `$ref`'s target is normalised where it lives. `nullable` next to a 3.0 `$ref` is ignored by the spec but always
 * meant "or null": it is kept as that (`anyOf` of the ref and `{type: 'null'}`). Siblings of the ref are still
 * checked: 2020-12 applies them (a `type: application/json` next to a ref was seen).
 */
function nullableRefAsAnyOf(schema: Json): void {
  const nullable = schema.nullable === true || schema['x-nullable'] === true;
  delete schema.nullable;
  if (nullable) {
    delete schema['x-nullable'];
    schema.anyOf = [{ $ref: schema.$ref }, { type: 'null' }];
    delete schema.$ref;
  }
}

/**
 * Checks (and where it can, rewrites to 2020-12) one keyword of a schema. Returns why the keyword is dropped, or
 * undefined when it stays; problems inside a kept keyword (an entry of `properties`…) are reported here.
 */
function keywordProblem(schema: Json, key: string, path: At, warn: Warn): string | undefined {
  const v = schema[key];
  switch (key) {
    case 'type':
      return normaliseType(schema, path, warn);
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return normaliseExclusiveBound(schema, key);
    case 'minimum':
    case 'maximum':
      return typeof v !== 'number' ? 'must be a number' : undefined;
    case 'multipleOf':
      if (typeof v !== 'number') return 'must be a number';
      return !(v > 0) ? 'must be greater than 0' : undefined;
    case 'pattern':
      return typeof v !== 'string' || !validPattern(v)
        ? `${JSON.stringify(v)} is not a JavaScript (Unicode) regular expression; ignored`
        : undefined;
    case 'format':
      return typeof v !== 'string' ? 'must be a string' : undefined;
    case 'uniqueItems':
      return typeof v !== 'boolean' ? 'must be a boolean' : undefined;
    case 'required':
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return 'must be an array of property names';
      if (new Set(v).size !== v.length) schema.required = [...new Set(v)];
      return undefined;
    case 'enum':
      return !Array.isArray(v) || v.length === 0 ? 'must be a non-empty array' : undefined;
    case 'items':
      return normaliseItems(schema);
    default:
      return otherKeywordProblem(schema, key, path, warn);
  }
}

/** `type`: `file` is a binary string, unknown type names are dropped (the keyword too when none is left). */
function normaliseType(schema: Json, path: At, warn: Warn): string | undefined {
  const v = schema.type;
  const list: unknown[] = Array.isArray(v) ? v : [v];
  if (list.includes('file')) schema.format ??= 'binary';
  const known = (x: unknown): x is string => typeof x === 'string' && jsonTypes.has(x);
  const fixed = [...new Set(list.map((x) => (x === 'file' ? 'string' : x)))].filter(known);
  const unknown = list.filter((x) => x !== 'file' && !known(x));
  if (fixed.length === 0) return `unknown type ${JSON.stringify(v)} ignored`;
  if (unknown.length > 0) warn(materialise(at(path, 'type')), `unknown type ${JSON.stringify(unknown)} ignored`);
  if (Array.isArray(v) || fixed[0] !== v) schema.type = Array.isArray(v) ? fixed : fixed[0];
  return undefined;
}

/** A boolean `exclusiveMinimum/Maximum` (draft 4) takes the number of `minimum/maximum`, or goes. */
function normaliseExclusiveBound(schema: Json, key: 'exclusiveMinimum' | 'exclusiveMaximum'): string | undefined {
  const v = schema[key];
  if (typeof v === 'boolean') {
    const bound = key === 'exclusiveMinimum' ? 'minimum' : 'maximum';
    if (v && typeof schema[bound] === 'number') {
      schema[key] = schema[bound];
      delete schema[bound];
    } else {
      delete schema[key];
    }
    return undefined;
  }
  return typeof v !== 'number' ? 'must be a number' : undefined;
}

/** `items` as a list is the draft 4 tuple form, which 2020-12 spells `prefixItems` (`additionalItems` becomes `items`). */
function normaliseItems(schema: Json): string | undefined {
  const v = schema.items;
  if (Array.isArray(v)) {
    schema.prefixItems = v;
    if ('additionalItems' in schema) {
      schema.items = schema.additionalItems;
      delete schema.additionalItems;
    } else {
      delete schema.items;
    }
    return undefined;
  }
  return typeof v !== 'boolean' && !isObject(v) ? 'must be a schema' : undefined;
}

/** Counts, and keywords holding a schema, a list of schemas or a map of schemas; any other keyword stays as it is. */
function otherKeywordProblem(schema: Json, key: string, path: At, warn: Warn): string | undefined {
  const v = schema[key];
  if (counts.has(key))
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? undefined : 'must be a non-negative integer';
  if (schemaSingles.has(key)) return typeof v !== 'boolean' && !isObject(v) ? 'must be a schema' : undefined;
  if (schemaLists.has(key)) {
    if (!Array.isArray(v) || v.length === 0) return 'must be a non-empty array of schemas';
    if (!v.every((x) => typeof x === 'boolean' || isObject(x)))
      schema[key] = v.filter((x) => typeof x === 'boolean' || isObject(x));
    return undefined;
  }
  if (schemaMaps.has(key)) {
    if (!isObject(v)) return 'must be an object of schemas';
    dropInvalidEntries(v, at(path, key), key === 'patternProperties', warn);
  }
  return undefined;
}

/** Entries of a map of schemas that are not schemas, or (`patternProperties`) whose name is not a Unicode regular expression. */
function dropInvalidEntries(map: Json, path: At, namesArePatterns: boolean, warn: Warn): void {
  for (const [name, sub] of Object.entries(map)) {
    if (typeof sub !== 'boolean' && !isObject(sub)) {
      delete map[name];
      warn(materialise(at(path, name)), 'must be a schema');
    } else if (namesArePatterns && !validPattern(name)) {
      delete map[name];
      warn(materialise(at(path, name)), 'not a JavaScript (Unicode) regular expression; ignored');
    }
  }
}

/**
 * `nullable` (and `x-nullable`) as 2020-12: `null` joins the enum and the type; a schema without a type but with
 * `allOf`/`oneOf`/`anyOf`/`$ref` becomes `anyOf: [inner, {type: 'null'}]` (annotations stay outside), and the inner
 * schema is returned (its subschemas are walked from there).
 */
function nullableAsNull(schema: Json): Json | undefined {
  const nullable = schema.nullable === true || schema['x-nullable'] === true;
  delete schema.nullable;
  if (!nullable) return undefined;
  delete schema['x-nullable'];
  if (Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum = [...schema.enum, null];
  const t = schema.type;
  if (typeof t === 'string') schema.type = t === 'null' ? t : [t, 'null'];
  else if (Array.isArray(t)) {
    if (!t.includes('null')) schema.type = [...t, 'null'];
  } else if (schema.allOf || schema.oneOf || schema.anyOf || schema.$ref) {
    const inner: Json = {};
    for (const k of Object.keys(schema)) {
      if (!annotations.has(k)) {
        inner[k] = schema[k];
        delete schema[k];
      }
    }
    schema.anyOf = [inner, { type: 'null' }];
    return inner;
  }
  return undefined;
}

function normaliseSubschemas(schema: Json, path: At, warn: Warn, seen: WeakSet<object>): void {
  for (const key of Object.keys(schema)) {
    const v = schema[key];
    if (v === null || typeof v !== 'object') continue;
    if (schemaSingles.has(key) || key === 'items') normaliseSchema(v, at(path, key), warn, seen);
    else if (schemaLists.has(key) && Array.isArray(v))
      v.forEach((x, i) => normaliseSchema(x, at(path, key, i), warn, seen));
    else if (schemaMaps.has(key) && isObject(v))
      for (const [name, x] of Object.entries(v)) normaliseSchema(x, at(path, key, name), warn, seen);
  }
}

export const httpMethods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Visits every schema position of an OpenAPI 3.x document (components, parameters, bodies, responses, headers, callbacks, webhooks). */
export function normaliseDocumentSchemas(doc: Json, warn: Warn): void {
  const seen = new WeakSet<object>();
  const visitedItems = new WeakSet<object>();
  const schemaAt = (v: unknown, p: Path): void => normaliseSchema(v, p, warn, seen);
  const content = (c: unknown, p: Path): void => {
    if (!isObject(c)) return;
    for (const [type, media] of Object.entries(c)) {
      if (!isObject(media)) continue;
      schemaAt(media.schema, [...p, type, 'schema']);
      if (isObject(media.encoding))
        for (const [name, enc] of Object.entries(media.encoding))
          if (isObject(enc)) headers(enc.headers, [...p, type, 'encoding', name, 'headers']);
    }
  };
  const param = (v: unknown, p: Path): void => {
    if (!isObject(v) || typeof v.$ref === 'string') return;
    schemaAt(v.schema, [...p, 'schema']);
    content(v.content, [...p, 'content']);
  };
  const headers = (h: unknown, p: Path): void => {
    if (isObject(h)) for (const [name, v] of Object.entries(h)) param(v, [...p, name]);
  };
  const body = (v: unknown, p: Path): void => {
    if (isObject(v) && typeof v.$ref !== 'string') content(v.content, [...p, 'content']);
  };
  const response = (v: unknown, p: Path): void => {
    if (!isObject(v) || typeof v.$ref === 'string') return;
    headers(v.headers, [...p, 'headers']);
    content(v.content, [...p, 'content']);
  };
  const params = (v: unknown, p: Path): void => {
    if (Array.isArray(v)) v.forEach((x, i) => param(x, [...p, i]));
  };
  const pathItem = (item: unknown, p: Path): void => {
    if (!isObject(item) || typeof item.$ref === 'string' || visitedItems.has(item)) return;
    visitedItems.add(item);
    params(item.parameters, [...p, 'parameters']);
    for (const m of httpMethods) {
      const op = item[m];
      if (!isObject(op)) continue;
      params(op.parameters, [...p, m, 'parameters']);
      body(op.requestBody, [...p, m, 'requestBody']);
      if (isObject(op.responses))
        for (const [code, r] of Object.entries(op.responses)) response(r, [...p, m, 'responses', code]);
      callbacks(op.callbacks, [...p, m, 'callbacks']);
    }
  };
  const pathItems = (v: unknown, p: Path): void => {
    if (isObject(v)) for (const [k, item] of Object.entries(v)) pathItem(item, [...p, k]);
  };
  const callbacks = (v: unknown, p: Path): void => {
    if (isObject(v))
      for (const [name, cb] of Object.entries(v))
        if (isObject(cb) && typeof cb.$ref !== 'string') pathItems(cb, [...p, name]);
  };

  const c = doc.components;
  if (isObject(c)) {
    if (isObject(c.schemas))
      for (const [name, s] of Object.entries(c.schemas)) schemaAt(s, ['components', 'schemas', name]);
    if (isObject(c.parameters))
      for (const [name, v] of Object.entries(c.parameters)) param(v, ['components', 'parameters', name]);
    headers(c.headers, ['components', 'headers']);
    if (isObject(c.requestBodies))
      for (const [name, v] of Object.entries(c.requestBodies)) body(v, ['components', 'requestBodies', name]);
    if (isObject(c.responses))
      for (const [name, v] of Object.entries(c.responses)) response(v, ['components', 'responses', name]);
    callbacks(c.callbacks, ['components', 'callbacks']);
    pathItems(c.pathItems, ['components', 'pathItems']);
  }
  pathItems(doc.paths, ['paths']);
  pathItems(doc.webhooks, ['webhooks']);
}
