/** An external user's attributes as text: `name=value` lines (what workflows read as `$current_user.<name>`). */

/** `name=value` lines → attributes; a line without `=` is an error naming it. */
export function parseAttributes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`line ${i + 1}: write name=value`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** Attributes → `name=value` lines, as `parseAttributes` reads them. */
export function formatAttributes(attributes: Record<string, string>): string {
  return Object.entries(attributes)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}
