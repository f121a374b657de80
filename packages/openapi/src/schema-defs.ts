import { isDataKey, type Json, refSegments, resolvePointer } from './json-pointer.ts';

/**
 * Turns schemas of an OpenAPI document into self-contained JSON Schemas: every internal `$ref` becomes
 * `#/$defs/<name>` and the referenced schemas (only those reachable) go into `$defs`. Circular references
 * stay references. One builder serves a whole compilation: each referenced schema is rewritten once and
 * the same object is shared by every tool that needs it (they are never mutated afterwards).
 *
 * `output` builds response schemas for `outputSchema`. Clients validate `structuredContent` against it,
 * and real APIs often answer with fields their description marks required but omits, values outside an
 * enum, or strings that miss a pattern. So output schemas keep the structure, types and descriptions and
 * drop assertions that real answers commonly break: `required`, `additionalProperties: false`, `enum` /
 * `const`, string/number/array bounds, `pattern`, `format`, `not`; `oneOf` becomes `anyOf` (branches
 * relaxed this way may overlap). Types (including which values may be null) are kept as declared.
 *
 * In both modes `oneOf` becomes `anyOf`: descriptions often list branches that overlap (`integer` and
 * `number`, or objects without a discriminating `required`), and "exactly one" would then refuse valid
 * arguments at the edge and valid answers at the client; the upstream still checks its own rules.
 */
/**
 * At most this many referenced schemas are expanded into one tool schema's `$defs`. Some descriptions
 * (Microsoft Graph: thousands of entities, each reachable from most others) would otherwise put the
 * whole component graph into every tool, making catalogs gigabytes large. Beyond the limit a schema is
 * a permissive stub (`{}` with a `$comment`), which keeps every `$ref` resolvable.
 */
export const maxExpandedDefs = 64;

export interface SchemaBuilder {
  /** A copy of `schema` with refs rewritten; the names of the `$defs` it refers to are added to `refs`. */
  rewrite(schema: unknown, refs: Set<string>): unknown;
  /** The `$defs` (rewritten) reachable from the given def names. */
  defs(refs: Set<string>): Record<string, unknown>;
}

/** Keywords dropped from every tool schema: OpenAPI-only annotations (and `discriminator`, whose mapping points at document locations). */
const droppedEverywhere = new Set(['discriminator', 'xml', 'externalDocs']);
const droppedInOutput = new Set([
  'required',
  'enum',
  'const',
  'pattern',
  'format',
  'not',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'minContains',
  'maxContains',
  'example',
  'examples',
  'readOnly',
  'writeOnly',
  'default',
  'dependentRequired',
]);

function defName(ref: string): string {
  const segs = refSegments(ref) ?? [ref];
  const useful =
    segs[0] === 'components' && segs[1] === 'schemas' && segs.length === 3
      ? [segs[2]!]
      : segs.filter((s) => s !== 'content' && s !== 'schema');
  return (
    useful
      .join('_')
      .replace(/[^A-Za-z0-9_.-]+/g, '_')
      .replace(/^_+/, '')
      .slice(-100) || 'schema'
  );
}

/** Keys whose value is a map of schemas by name: the names are data, not keywords. */
function isKeywordLevel(parentKey: string | number | undefined): boolean {
  return (
    parentKey !== 'properties' &&
    parentKey !== 'patternProperties' &&
    parentKey !== '$defs' &&
    parentKey !== 'dependentSchemas'
  );
}

/** Keywords left out of a tool schema: extensions, OpenAPI-only ones, and (output) assertions real answers break. */
function isDroppedKeyword(mode: 'input' | 'output', k: string, x: unknown): boolean {
  if (k.startsWith('x-') || droppedEverywhere.has(k)) return true;
  if (mode !== 'output') return false;
  return droppedInOutput.has(k) || ((k === 'additionalProperties' || k === 'unevaluatedProperties') && x === false);
}

/**
 * The `$defs` reachable from `refs`, breadth-first and bounded: nearer schemas first, at most `maxExpandedDefs`
 * expanded, the rest permissive stubs; sorted by name.
 */
function reachableDefs(
  refs: Set<string>,
  defSchema: (name: string) => { schema: unknown; refs: Set<string> },
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const queue = [...refs];
  let expanded = 0;
  while (queue.length > 0) {
    const n = queue.shift()!;
    if (n in out) continue;
    if (expanded >= maxExpandedDefs) {
      // Bounded: nearer schemas first (breadth-first); the rest accept anything.
      out[n] = { $comment: `${n}: not expanded (more than ${maxExpandedDefs} schemas reachable)` };
      continue;
    }
    const d = defSchema(n);
    out[n] = d.schema;
    expanded++;
    for (const r of d.refs) if (!(r in out)) queue.push(r);
  }
  return Object.fromEntries(
    Object.keys(out)
      .sort()
      .map((k) => [k, out[k]]),
  );
}

export function schemaBuilder(doc: Json, mode: 'input' | 'output'): SchemaBuilder {
  const names = new Map<string, string>(); // document ref → def name
  const taken = new Set<string>();
  const byName = new Map<string, { ref: string; schema?: unknown; refs?: Set<string> }>();

  const nameFor = (ref: string): string => {
    let n = names.get(ref);
    if (n !== undefined) return n;
    const base = defName(ref);
    n = base;
    for (let i = 2; taken.has(n); i++) n = `${base}_${i}`;
    taken.add(n);
    names.set(ref, n);
    byName.set(n, { ref });
    return n;
  };

  const copy = (v: unknown, refs: Set<string>, parentKey: string | number | undefined, stack: Set<object>): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (stack.has(v)) return {};
    if (Array.isArray(v)) {
      stack.add(v);
      const out = v.map((x, i) => copy(x, refs, parentKey === undefined ? i : parentKey, stack));
      stack.delete(v);
      return out;
    }
    const o = v as Json;
    const out: Json = {};
    const extra: Json[] = [];
    stack.add(o);
    const keywordLevel = isKeywordLevel(parentKey);
    for (const k of Object.keys(o)) {
      const x = o[k];
      if (keywordLevel) {
        if (isDroppedKeyword(mode, k, x)) continue;
        if (k === '$ref' && typeof x === 'string') {
          if (x.startsWith('#')) {
            const n = nameFor(x);
            refs.add(n);
            out.$ref = `#/$defs/${n}`;
          }
          continue;
        }
        if (isDataKey(k, x, parentKey)) {
          out[k] = x; // data: shared, never rewritten
          continue;
        }
        if (k === 'oneOf') {
          // Relaxed branches may overlap: anyOf (kept apart from an existing anyOf).
          if ('anyOf' in o) extra.push({ anyOf: copy(x, refs, k, stack) });
          else out.anyOf = copy(x, refs, k, stack);
          continue;
        }
      }
      out[k] = copy(x, refs, keywordLevel ? k : undefined, stack);
    }
    if (extra.length > 0) out.allOf = [...(Array.isArray(out.allOf) ? out.allOf : []), ...extra];
    stack.delete(o);
    return out;
  };

  const defSchema = (n: string): { schema: unknown; refs: Set<string> } => {
    const entry = byName.get(n)!;
    if (entry.schema === undefined) {
      const refs = new Set<string>();
      const target = resolvePointer(doc, entry.ref);
      // A dangling ref (the import rejects them; a hand-made document may have one) accepts anything.
      entry.schema = target === undefined ? {} : copy(target, refs, undefined, new Set());
      entry.refs = refs;
    }
    return { schema: entry.schema, refs: entry.refs! };
  };

  return {
    rewrite: (schema, refs) => copy(schema, refs, undefined, new Set()),
    defs: (refs) => reachableDefs(refs, defSchema),
  };
}
