/**
 * The little a condition needs from a tool's input schema (JSON Schema, as MCP tools declare it): which
 * properties an object has, what an array holds, a value's kind and its declared size limits. Local
 * `$ref`s (`#/$defs/…`, `#/definitions/…`) are followed; `allOf`, `anyOf` and `oneOf` are read as "any
 * branch may declare it". Anything this does not understand reads as "unknown", never as an error.
 */
export type JsonSchema = boolean | { readonly [key: string]: unknown };

/** A schema node and the document its `$ref`s resolve in. */
export interface SchemaAt {
  readonly root: JsonSchema;
  readonly node: JsonSchema;
}

export type ValueKind = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'null';

type SchemaObject = { readonly [key: string]: unknown };

const isObject = (v: unknown): v is SchemaObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Follows local `$ref`s (a JSON pointer into the root document), at most 32 hops. */
function deref(root: JsonSchema, node: JsonSchema): JsonSchema {
  let current = node;
  for (let hops = 0; hops < 32 && isObject(current) && typeof current.$ref === 'string'; hops++) {
    const ref = current.$ref;
    if (!ref.startsWith('#')) return true;
    let target: unknown = root;
    for (const raw of ref.slice(1).split('/').slice(1)) {
      const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
      target = isObject(target) && Object.hasOwn(target, key) ? target[key] : undefined;
    }
    if (!isObject(target) && typeof target !== 'boolean') return true;
    current = target;
  }
  return current;
}

/** The node and every `allOf`/`anyOf`/`oneOf` branch under it (dereferenced, at most 64 nodes). */
function branches(at: SchemaAt): SchemaObject[] {
  const out: SchemaObject[] = [];
  const pending: JsonSchema[] = [at.node];
  while (pending.length > 0 && out.length < 64) {
    const node = deref(at.root, pending.pop()!);
    if (!isObject(node)) continue;
    out.push(node);
    for (const key of ['allOf', 'anyOf', 'oneOf'] as const) {
      const list = node[key];
      if (Array.isArray(list)) for (const b of list) if (isObject(b) || typeof b === 'boolean') pending.push(b);
    }
  }
  return out;
}

export type PropertyLookup =
  | { readonly kind: 'known'; readonly schema: SchemaAt }
  | { readonly kind: 'unknown'; readonly known: readonly string[] }
  | { readonly kind: 'open' };

/**
 * Whether `name` is a property of the object `at` describes. Closed (a name must be declared) when some
 * branch declares `properties` and none allows more (`additionalProperties` true or a schema,
 * `patternProperties`, `unevaluatedProperties`); otherwise open.
 */
export function lookupProperty(at: SchemaAt, name: string): PropertyLookup {
  const known: string[] = [];
  let declares = false;
  let open = false;
  for (const b of branches(at)) {
    const props = b.properties;
    if (isObject(props)) {
      declares = true;
      if (Object.hasOwn(props, name)) {
        const schema = props[name];
        return { kind: 'known', schema: { root: at.root, node: isObject(schema) || schema === false ? schema : true } };
      }
      known.push(...Object.keys(props));
    }
    const extra = b.additionalProperties;
    if ((extra !== undefined && extra !== false) || b.patternProperties !== undefined) open = true;
    if (b.unevaluatedProperties !== undefined && b.unevaluatedProperties !== false) open = true;
  }
  if (!declares || open) return { kind: 'open' };
  return { kind: 'unknown', known: [...new Set(known)].sort() };
}

/** The schema of an array's elements (`items`; with `prefixItems` only, unknown). */
export function itemsOf(at: SchemaAt): SchemaAt | undefined {
  for (const b of branches(at)) {
    const items = b.items;
    if (isObject(items) || typeof items === 'boolean') return { root: at.root, node: items };
  }
  return undefined;
}

function kindOfValue(v: unknown): ValueKind | undefined {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'object':
      return 'object';
    default:
      return undefined;
  }
}

const validKinds = new Set<string>(['string', 'number', 'boolean', 'array', 'object', 'null']);

/** The kinds a node's own `type`, `enum` or `const` allow (`integer` is `number`), or undefined. */
function ownKinds(node: SchemaObject): Set<ValueKind> | undefined {
  const t = node.type;
  const types = typeof t === 'string' ? [t] : Array.isArray(t) ? t : undefined;
  if (types) {
    const kinds = new Set<ValueKind>();
    for (const x of types) {
      const k = x === 'integer' ? 'number' : x;
      if (typeof k !== 'string' || !validKinds.has(k)) return undefined;
      kinds.add(k as ValueKind);
    }
    return kinds;
  }
  if (Array.isArray(node.enum)) return new Set(node.enum.map((v) => kindOfValue(v) ?? 'object'));
  if (Object.hasOwn(node, 'const')) return new Set([kindOfValue(node.const) ?? 'object']);
  return undefined;
}

/**
 * The kinds a value of this schema can have, or undefined when any: the node's own `type`/`enum`/`const`,
 * else the first `allOf` branch that says, else the union of every `anyOf`/`oneOf` alternative (undefined
 * when one of them says nothing).
 */
export function kindsOf(at: SchemaAt, depth = 0): ReadonlySet<ValueKind> | undefined {
  const node = deref(at.root, at.node);
  if (!isObject(node) || depth > 16) return undefined;
  const own = ownKinds(node);
  if (own) return own;
  if (Array.isArray(node.allOf))
    for (const b of node.allOf) {
      const k = isObject(b) ? kindsOf({ root: at.root, node: b }, depth + 1) : undefined;
      if (k) return k;
    }
  const alternatives = [
    ...(Array.isArray(node.anyOf) ? node.anyOf : []),
    ...(Array.isArray(node.oneOf) ? node.oneOf : []),
  ];
  if (alternatives.length === 0) return undefined;
  const union = new Set<ValueKind>();
  for (const b of alternatives) {
    const k = isObject(b) ? kindsOf({ root: at.root, node: b }, depth + 1) : undefined;
    if (!k) return undefined;
    for (const x of k) union.add(x);
  }
  return union;
}

/** The smallest declared size limit (`maxItems`, `maxLength` or `maxProperties`) on any branch. */
export function declaredMax(at: SchemaAt, keyword: 'maxItems' | 'maxLength' | 'maxProperties'): number | undefined {
  let max: number | undefined;
  for (const b of branches(at)) {
    const v = b[keyword];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) max = max === undefined ? v : Math.min(max, v);
  }
  return max;
}

/** A type for the library's checker: objects with declared properties get their fields, the rest is dyn. */
export type CheckerType = string | { [field: string]: CheckerType };

const plainName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The checker's view of a schema. Numbers are `dyn`: arguments arrive as JSON numbers (CEL doubles) and
 * CEL compares doubles with ints at run time, while its checker would refuse `args.count == 1`. Numbers
 * compared with strings are caught by the analyser instead (analyze.ts).
 */
export function checkerType(at: SchemaAt, depth = 0): CheckerType {
  const kinds = kindsOf(at);
  if (!kinds || kinds.size !== 1 || depth > 8) return 'dyn';
  const [kind] = kinds;
  switch (kind) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'array': {
      const items = itemsOf(at);
      const inner = items ? checkerType(items, depth + 1) : 'dyn';
      return typeof inner === 'string' ? `list<${inner}>` : 'list<dyn>';
    }
    case 'object': {
      const fields = objectFields(at);
      if (!fields) return 'map<string, dyn>';
      const out: { [field: string]: CheckerType } = {};
      for (const [name, schema] of fields) out[name] = checkerType(schema, depth + 1);
      return out;
    }
    default:
      return 'dyn';
  }
}

/** The declared properties of a closed object whose names the checker can take, else undefined. */
function objectFields(at: SchemaAt): Map<string, SchemaAt> | undefined {
  const probe = lookupProperty(at, '\u0000');
  if (probe.kind !== 'unknown' || probe.known.length === 0) return undefined;
  const fields = new Map<string, SchemaAt>();
  for (const name of probe.known) {
    if (!plainName.test(name) || name === '__proto__' || name === 'constructor' || name === 'prototype')
      return undefined;
    const found = lookupProperty(at, name);
    if (found.kind !== 'known') return undefined;
    fields.set(name, found.schema);
  }
  return fields;
}
