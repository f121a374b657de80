/**
 * `text` in slug form: lower-case letters, digits and single `-`, at most `max` characters, no `-` at either end;
 * empty when nothing is left (each caller says what it uses instead).
 */
export function slugify(text: string, max: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/, '');
}
