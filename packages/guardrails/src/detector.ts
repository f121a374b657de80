/** One match in a string: where it is and what found it (`pii:card`); never the matched text. */
export interface Match {
  start: number;
  end: number;
  detector: string;
}

/**
 * A detector: appends to `out` the matches it finds in `text` (a string of a result; `key` is the property holding
 * it, when there is one). Every pattern is linear in the text: bounded quantifiers only (no nested unbounded
 * repetition), a custom pattern through RE2.
 */
export interface Detector {
  find(text: string, key: string | undefined, out: Match[], context: ScanContext): void;
}

/** What one scan knows beyond the guardrails: the call's own credentials (every form it sent them in). */
export interface ScanContext {
  /** A global pattern of literal alternatives (the worker's redaction pattern); absent: none. */
  ownSecrets?: RegExp | undefined;
}

/** A named pattern (global, so `matchAll` finds every match), with an optional check of each match (a checksum). */
export interface NamedPattern {
  name: string;
  pattern: RegExp;
  /** A cheap test of the text before the pattern runs (a character every match contains). */
  prefilter?: (text: string) => boolean;
  check?: (matched: string) => boolean;
}

/** A detector of named patterns, each finding `<kind>:<name>` (`<kind>` for a pattern without a name). */
export function patternDetector(kind: string, patterns: readonly NamedPattern[]): Detector {
  return {
    find(text, _key, out) {
      for (const p of patterns) {
        if (p.prefilter && !p.prefilter(text)) continue;
        for (const m of text.matchAll(p.pattern)) {
          if (p.check && !p.check(m[0])) continue;
          out.push({ start: m.index, end: m.index + m[0].length, detector: p.name ? `${kind}:${p.name}` : kind });
        }
      }
    },
  };
}

export const hasDigit = (text: string): boolean => /\d/.test(text);
