/**
 * How deeply a JSON value accepted from a client may nest (objects and arrays). Parsers and
 * validators recurse, so a deeper value could exhaust the stack; every service refuses such a value
 * at its boundary with a 4xx before anything walks it.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether `value` nests deeper than `max` levels (a scalar is depth 0, `[]` and `{}` depth 1).
 * Iterative, so the check itself never recurses however deep the value is.
 */
export function exceedsJsonDepth(value: unknown, max: number = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > max) return true;
    const children = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    for (const child of children) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}
