import type { GuardrailDetector, GuardrailFinding, GuardrailRule, GuardrailTarget } from '@toolplane/contracts';
import type { Detector, Match, ScanContext } from './detector.ts';
import { customDetector, injectionDetector } from './patterns.ts';
import { piiDetector } from './pii.ts';
import { secretsDetector } from './secrets.ts';

/** A guardrail ready to run: its rule and its detectors, compiled once (per catalog version in the worker). */
export interface CompiledGuardrail {
  rule: GuardrailRule;
  detectors: Detector[];
}

/** At most this many findings are listed per scan (the rest are counted in `more`). */
const MAX_FINDINGS = 100;

function detectorOf(d: GuardrailDetector): Detector {
  switch (d.kind) {
    case 'secrets':
      return secretsDetector(d.ownSecrets !== false);
    case 'pii':
      return piiDetector(d.types, d.countries);
    case 'prompt_injection':
      return injectionDetector(d.patterns);
    case 'custom':
      return customDetector(d.patterns, d.label);
  }
}

/** Whether a guardrail scans `target` (one without `on` scans results only). */
export const scans = (rule: GuardrailRule, target: GuardrailTarget): boolean =>
  rule.on ? rule.on.includes(target) : target === 'results';

/**
 * Compiles the guardrails that scan `target` (default: results; RE2 patterns included: one RE2 refuses throws, which
 * a saved guardrail never has).
 */
export function compileGuardrails(
  rules: readonly GuardrailRule[],
  target: GuardrailTarget = 'results',
): CompiledGuardrail[] {
  return rules
    .filter((rule) => scans(rule, target))
    .map((rule) => ({ rule, detectors: rule.detectors.map(detectorOf) }));
}

/** The guardrails of `all` that apply to `tool` (none named: every tool; a request that is no tool call: `undefined`). */
export function guardrailsFor(all: readonly CompiledGuardrail[], tool: string | undefined): CompiledGuardrail[] {
  return all.filter((g) => !g.rule.tools || (tool !== undefined && g.rule.tools.includes(tool)));
}

/** One string of the scanned value: where it is and the property holding it. */
interface Site {
  path: string;
  key: string | undefined;
  text: string;
}

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const childPath = (path: string, key: string) =>
  identifier.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;

/** Binary payloads (an image's or audio's `data`, a resource's `blob`) are not text: never scanned. */
function binary(key: string, parent: Record<string, unknown>): boolean {
  return (
    (key === 'data' && (parent.type === 'image' || parent.type === 'audio')) ||
    (key === 'blob' && typeof parent.uri === 'string')
  );
}

/** Every string of `value` (object keys are not scanned), in a fixed order, with its JSON path. */
function collect(value: unknown, path: string, key: string | undefined, out: Site[]): void {
  if (typeof value === 'string') out.push({ path, key, text: value });
  else if (Array.isArray(value)) value.forEach((v, i) => collect(v, `${path}[${i}]`, key, out));
  else if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const k of Object.keys(record)) if (!binary(k, record)) collect(record[k], childPath(path, k), k, out);
  }
}

/** `value` with the strings of `replaced` (by their index in `collect`'s order) replaced, copied only where changed. */
function rebuilt(value: unknown, replaced: Map<number, string>, counter: { i: number }): unknown {
  if (typeof value === 'string') {
    const r = replaced.get(counter.i++);
    return r ?? value;
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item: unknown, i) => {
      const next = rebuilt(item, replaced, counter);
      if (next !== item) (copy ??= value.slice())[i] = next;
    });
    return copy ?? value;
  }
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const k of Object.keys(record)) {
    if (binary(k, record)) continue;
    const next = rebuilt(record[k], replaced, counter);
    if (next !== record[k]) (copy ??= { ...record })[k] = next;
  }
  return copy ?? value;
}

/** `text` with each span replaced by `[redacted:<detector>]` (overlapping spans merged, the first one's name kept). */
export function redactSpans(text: string, spans: Match[]): string {
  const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let at = 0;
  for (const s of sorted) {
    if (s.end <= at) continue;
    if (s.start >= at) out += `${text.slice(at, s.start)}[redacted:${s.detector}]`;
    at = s.end;
  }
  return out + text.slice(at);
}

export interface GuardrailOutcome {
  /** The value as the caller gets it (the same object when nothing was redacted). */
  value: unknown;
  /** What was found (at most 100; `more` counts the rest), never a matched value. */
  findings: GuardrailFinding[];
  more: number;
  /** The first finding of an enforced `block`: the whole value is withheld. */
  withheld?: GuardrailFinding;
}

export interface ScanOptions extends ScanContext {
  /** Bytes (UTF-8) of text above which a guardrail without its own `maxBytes` blocks the value unscanned. */
  maxScanBytes: number;
}

const outcomeOf = (rule: GuardrailRule): GuardrailFinding['action'] =>
  rule.enforce ? rule.action : (`would_${rule.action}` as const);

/**
 * Applies guardrails to a JSON value: every string is scanned once by each guardrail's detectors (linear in the
 * text); a value with more text than a guardrail's limit is blocked by it, whatever its action (never passed
 * unscanned). An
 * enforced `block` withholds the whole value, an enforced `redact` replaces each match, `flag` and log-only
 * guardrails change nothing: all are listed in the findings.
 */
export function applyGuardrails(
  value: unknown,
  guardrails: readonly CompiledGuardrail[],
  options: ScanOptions,
): GuardrailOutcome {
  const findings: GuardrailFinding[] = [];
  let more = 0;
  const seen = new Set<string>();
  const note = (f: GuardrailFinding) => {
    const id = `${f.guardrail}\u0000${f.detector}\u0000${f.path}`;
    if (seen.has(id)) return;
    seen.add(id);
    if (findings.length < MAX_FINDINGS) findings.push(f);
    else more++;
  };
  if (guardrails.length === 0) return { value, findings, more };
  const sites: Site[] = [];
  collect(value, '$', undefined, sites);
  let bytes = 0;
  for (const s of sites) bytes += Buffer.byteLength(s.text);
  const redactions = new Map<number, Match[]>();
  for (const { rule, detectors } of guardrails) {
    const action = outcomeOf(rule);
    if (bytes > (rule.maxBytes ?? options.maxScanBytes)) {
      // Whatever its action: what cannot be scanned is blocked (log only: would be).
      const finding = {
        guardrail: rule.name,
        detector: 'size',
        path: '$',
        action: outcomeOf({ ...rule, action: 'block' }),
      };
      note(finding);
      if (rule.enforce) return { value: undefined, findings, more, withheld: finding };
      continue;
    }
    for (let i = 0; i < sites.length; i++) {
      const site = sites[i]!;
      const matches: Match[] = [];
      for (const d of detectors) d.find(site.text, site.key, matches, options);
      for (const m of matches) {
        const finding = { guardrail: rule.name, detector: m.detector, path: site.path, action };
        note(finding);
        if (action === 'block') return { value: undefined, findings, more, withheld: finding };
      }
      if (action === 'redact' && matches.length > 0) redactions.set(i, [...(redactions.get(i) ?? []), ...matches]);
    }
  }
  if (redactions.size === 0) return { value, findings, more };
  const replaced = new Map([...redactions].map(([i, spans]) => [i, redactSpans(sites[i]!.text, spans)]));
  return { value: rebuilt(value, replaced, { i: 0 }), findings, more };
}
