import { z } from 'zod';

/**
 * Rules for text people and documents give the platform, in one place (docs/security.md, "Input rules").
 *
 * Control characters: what a terminal or a text renderer acts on instead of showing: C0 controls (newline, tab
 * and ESC, which starts escape sequences, among them), DEL, C1 controls (CSI, U+009B, among them), and the
 * bidirectional embeddings and overrides (U+202A–U+202E) and isolates (U+2066–U+2069), which reorder what is shown.
 */
const controlCharacters = '\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069';

/**
 * A name a person gives (an external user, an API key, a connector instance, a connector): 1 to `max` characters,
 * in any script, without control characters. Names are shown in terminals, tables and pages; one carrying escape
 * sequences could retitle a terminal or fake lines of output. (Slugs and identifiers have stricter patterns.)
 */
export function humanName(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .regex(
      new RegExp(`^[^${controlCharacters}]*$`),
      'must not contain control characters (U+0000-U+001F, U+007F-U+009F) or bidirectional controls ' +
        '(U+202A-U+202E, U+2066-U+2069)',
    );
}

/**
 * A URL the platform calls or sends a browser to: absolute, `https:` or `http:`, nothing else (`javascript:`,
 * `data:`, `file:` … are refused). Which hosts may be reached is the workers' outbound guard's decision, at call
 * time (plain `http` only for hosts its `OUTBOUND_ALLOW` lists): the control plane cannot know that list.
 */
export const HttpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** Whether `value` is an absolute http(s) URL (`HttpUrl`). */
export function isHttpUrl(value: string): boolean {
  return HttpUrl.safeParse(value).success;
}
