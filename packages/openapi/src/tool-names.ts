import { createHash } from 'node:crypto';

/** MCP clients commonly accept tool names of at most 64 characters from this set. */
const maxToolNameLength = 64;

function shortHash(text: string, length = 6): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** Letters, digits, `_` and `-` only; runs of anything else become one `_`. */
function sanitiseName(text: string): string {
  return text
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/_{2,}/g, '_')
    .replace(/^[_-]+|[_-]+$/g, '');
}

/** At most `max` characters; longer names keep a prefix and end with a hash of the whole name. */
function fit(name: string, max = maxToolNameLength): string {
  if (name.length <= max) return name;
  return `${name.slice(0, max - 7).replace(/[_-]+$/, '')}_${shortHash(name)}`;
}

/** `get_pets_petId` for `GET /pets/{petId}`. */
function nameFromRoute(method: string, path: string): string {
  return sanitiseName(`${method.toLowerCase()}_${path}`) || method.toLowerCase();
}

export interface NamedOperation {
  method: string;
  path: string;
  operationId?: string | undefined;
}

/**
 * A tool name per operation, stable across re-imports: the sanitised operationId (else method + path),
 * cut to 64 characters. Names shared by several operations all get a suffix hashed from their method
 * and path, so the result never depends on the order of the operations in the document.
 */
export function toolNames(ops: readonly NamedOperation[]): string[] {
  const base = ops.map((op) =>
    fit((op.operationId && sanitiseName(op.operationId)) || nameFromRoute(op.method, op.path)),
  );
  const count = new Map<string, number>();
  for (const b of base) count.set(b, (count.get(b) ?? 0) + 1);
  const names = base.map((b, i) => {
    if (count.get(b) === 1) return b;
    const op = ops[i]!;
    const suffix = `_${shortHash(`${op.method.toUpperCase()} ${op.path}`)}`;
    return `${b.slice(0, maxToolNameLength - suffix.length)}${suffix}`;
  });
  // Pathological leftovers (the same method + path twice, or a suffixed name equal to another name): longer hashes of the position-free key.
  const used = new Map<string, number>();
  for (const n of names) used.set(n, (used.get(n) ?? 0) + 1);
  return names.map((n, i) => {
    if (used.get(n) === 1) return n;
    const op = ops[i]!;
    const suffix = `_${shortHash(`${op.method.toUpperCase()} ${op.path} ${op.operationId ?? ''} ${i}`, 10)}`;
    return `${n.slice(0, maxToolNameLength - suffix.length)}${suffix}`;
  });
}
