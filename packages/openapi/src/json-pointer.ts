/** JSON Pointer helpers and `$ref` following inside one (self-contained) document. */

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** `/a/b~1c` from segments (the path format of our ValidationError issues). */
export function pointer(segments: readonly (string | number)[]): string {
  return segments.map((s) => `/${escapePointer(String(s))}`).join('');
}

/** Segments of an internal ref (`#/components/schemas/A`), or undefined when it is not one. */
export function refSegments(ref: string): string[] | undefined {
  if (!ref.startsWith('#')) return undefined;
  const frag = ref.slice(1);
  if (frag === '') return [];
  if (!frag.startsWith('/')) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(frag);
  } catch {
    decoded = frag;
  }
  return decoded
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The value an internal ref points at, or undefined. */
export function resolvePointer(doc: unknown, ref: string): unknown {
  const segs = refSegments(ref);
  if (!segs) return undefined;
  let cur: unknown = doc;
  for (const s of segs) {
    if (Array.isArray(cur)) cur = cur[Number(s)];
    else if (isObject(cur) && Object.hasOwn(cur, s)) cur = cur[s];
    else return undefined;
  }
  return cur;
}

/** Follows a chain of `$ref`s (internal only) to the first object that is not a ref; cycle-safe. */
export function deref(doc: unknown, value: unknown): unknown {
  let cur = value;
  const seen = new Set<string>();
  while (isObject(cur) && typeof cur.$ref === 'string') {
    if (seen.has(cur.$ref)) return undefined;
    seen.add(cur.$ref);
    cur = resolvePointer(doc, cur.$ref);
  }
  return cur;
}

/** Objects whose keys are names chosen by the author (a property called `default` is not a keyword). */
const nameMaps = new Set([
  'properties',
  'patternProperties',
  'schemas',
  '$defs',
  'definitions',
  'responses',
  'parameters',
  'requestBodies',
  'headers',
  'links',
  'callbacks',
  'securitySchemes',
  'content',
  'paths',
  'webhooks',
  'pathItems',
  'encoding',
  'dependentSchemas',
]);

/** Keys whose values are data (examples, defaults, enums, extensions), never references to follow. */
export function isDataKey(key: string, value: unknown, parentKey: string | number | undefined): boolean {
  if (typeof parentKey === 'string' && nameMaps.has(parentKey)) return false;
  return (
    key === 'example' ||
    key === 'default' ||
    key === 'enum' ||
    key === 'const' ||
    key.startsWith('x-') ||
    (key === 'examples' && Array.isArray(value))
  );
}

/** Calls `visit` for every `$ref` string in the document (outside data values), with its location. */
export function walkRefs(root: unknown, visit: (ref: string, path: (string | number)[], holder: Json) => void): void {
  const path: (string | number)[] = [];
  const stack = new Set<unknown>();
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || stack.has(v)) return;
    stack.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        walk(v[i]);
        path.pop();
      }
    } else {
      const o = v as Json;
      if (typeof o.$ref === 'string') visit(o.$ref, [...path], o);
      for (const k of Object.keys(o)) {
        const child = o[k];
        if (child === null || typeof child !== 'object' || isDataKey(k, child, path[path.length - 1])) continue;
        path.push(k);
        walk(child);
        path.pop();
      }
    }
    stack.delete(v);
  };
  walk(root);
}
