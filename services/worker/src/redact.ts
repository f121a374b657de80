import type { ToolResultPayload } from '@toolplane/contracts';

const REDACTED = '[redacted]';

/** Secret values shorter than this are not searched for (they would match ordinary text). */
const MIN_SECRET_LENGTH = 4;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Removes every occurrence of the given secret values (and their base64 forms, as in Basic auth
 * headers echoed back) from a tool result before it leaves the worker: upstreams sometimes echo
 * credentials in bodies or error messages, and the result goes to the model.
 */
export function redactSecrets(
  result: ToolResultPayload,
  secretValues: Iterable<string | undefined>,
): ToolResultPayload {
  const needles = new Set<string>();
  for (const v of secretValues) {
    if (!v || v.length < MIN_SECRET_LENGTH) continue;
    needles.add(v);
    needles.add(Buffer.from(v).toString('base64').replace(/=+$/, ''));
    needles.add(encodeURIComponent(v));
  }
  if (needles.size === 0) return result;
  const pattern = new RegExp(
    [...needles]
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp)
      .join('|'),
    'g',
  );
  const scrub = (value: unknown): unknown => {
    if (typeof value === 'string')
      return pattern.test(value) ? ((pattern.lastIndex = 0), value.replace(pattern, REDACTED)) : value;
    if (Array.isArray(value)) return value.map(scrub);
    if (value !== null && typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [scrub(k) as string, scrub(v)]));
    return value;
  };
  return scrub(result) as ToolResultPayload;
}
