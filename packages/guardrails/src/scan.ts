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

/** Where a string is: its parent's place and its own step (an index, or a property with its key's site). */
interface Place {
  up: Place | undefined;
  step: number | string;
  /** A property's key: the index of its site (keys are scanned too). */
  keySite?: number;
}

/** One string of the scanned value (a string or an object's key): where it is and the property holding it. */
interface Site {
  at: Place;
  /** The property holding a string (undefined for an array item, the root and a key). */
  key: string | undefined;
  text: string;
  /** The site is an object's key (its own place is the property it names). */
  isKey: boolean;
}

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const childPath = (path: string, key: string) =>
  identifier.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;

/** A place as a JSON path, each key something found in named by its redaction (`masked`), never by its text. */
function pathOf(at: Place, masked: ReadonlyMap<number, string>): string {
  if (!at.up) return '$';
  const up = pathOf(at.up, masked);
  if (typeof at.step === 'number') return `${up}[${at.step}]`;
  return childPath(up, (at.keySite !== undefined && masked.get(at.keySite)) || at.step);
}

const isRoot = (at: Place | undefined): boolean => at !== undefined && at.up === undefined;

/** Whether `at` is an MCP content block: a result's `content[i]`, or a prompt message's `messages[i].content`. */
function blockPosition(at: Place): boolean {
  const up = at.up;
  if (!up) return false;
  if (typeof at.step === 'number') return up.step === 'content' && isRoot(up.up);
  return at.step === 'content' && typeof up.step === 'number' && up.up?.step === 'messages' && isRoot(up.up.up);
}

/**
 * Binary payloads are not text, and are never scanned, only where MCP puts them (`mcp`): the `data` of an image or
 * audio content block, the `blob` of a block's embedded resource or of a read resource's `contents[i]`. An object of
 * that shape anywhere else (arguments, structured content, a capture) is scanned as any other.
 */
function binary(key: string, parent: Record<string, unknown>, at: Place, mcp: boolean): boolean {
  if (!mcp) return false;
  if (key === 'data') return (parent.type === 'image' || parent.type === 'audio') && blockPosition(at);
  if (key !== 'blob' || typeof parent.uri !== 'string' || !at.up) return false;
  if (at.step === 'resource') return blockPosition(at.up);
  return typeof at.step === 'number' && at.up.step === 'contents' && isRoot(at.up.up);
}

/** A number is scanned as its decimal text (a card number sent as a JSON number); a non-finite one is no text. */
const scannedNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** An object's keys in order, and the sites of those that are scanned (a binary payload's key is not). */
interface KeyGroup {
  keys: string[];
  sites: Map<number, string>;
}

/** What `collect` gathers: the strings, numbers and keys, the keys of each object; `mcp`: see `binary`. */
interface Collected {
  sites: Site[];
  groups: KeyGroup[];
  mcp: boolean;
}

/** Every string and number of `value` and every key of its objects (each key before its value), in a fixed order. */
function collect(value: unknown, at: Place, key: string | undefined, out: Collected) {
  if (typeof value === 'string') out.sites.push({ at, key, text: value, isKey: false });
  else if (scannedNumber(value)) out.sites.push({ at, key, text: String(value), isKey: false });
  else if (Array.isArray(value)) value.forEach((v, i) => collect(v, { up: at, step: i }, key, out));
  else if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const group: KeyGroup = { keys: Object.keys(record), sites: new Map() };
    for (const k of group.keys) {
      if (binary(k, record, at, out.mcp)) continue;
      const keySite = out.sites.length;
      const place = { up: at, step: k, keySite };
      out.sites.push({ at: place, key: undefined, text: k, isKey: true });
      group.sites.set(keySite, k);
      collect(record[k], place, k, out);
    }
    if (group.sites.size > 0) out.groups.push(group);
  }
}

/** Where `rebuilt` is: the replacements, the next site's index, and whether binary payloads were skipped. */
interface Rebuild {
  replaced: Map<number, string>;
  i: number;
  mcp: boolean;
}

/**
 * `value` with the strings, numbers and keys of `replaced` (by their site index in `collect`'s order) replaced (a
 * number by the string of its redaction), copied only where changed (a renamed key keeps its place among the others).
 */
function rebuilt(value: unknown, at: Place, r: Rebuild): unknown {
  if (typeof value === 'string' || scannedNumber(value)) return r.replaced.get(r.i++) ?? value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item: unknown, i) => {
      const next = rebuilt(item, { up: at, step: i }, r);
      if (next !== item) (copy ??= value.slice())[i] = next;
    });
    return copy ?? value;
  }
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const entries: [string, unknown][] = [];
  let changed = false;
  for (const k of Object.keys(record)) {
    if (binary(k, record, at, r.mcp)) {
      entries.push([k, record[k]]);
      continue;
    }
    const name = r.replaced.get(r.i++) ?? k;
    const next = rebuilt(record[k], { up: at, step: k }, r);
    if (name !== k || next !== record[k]) changed = true;
    entries.push([name, next]);
  }
  return changed ? Object.fromEntries(entries) : value;
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
  /**
   * The value is an MCP answer (a tool result, a read resource, a prompt): the binary payloads at its content
   * positions are not scanned. Absent: every string and number is (arguments, captures).
   */
  mcpContent?: boolean;
}

const outcomeOf = (rule: GuardrailRule): GuardrailFinding['action'] =>
  rule.enforce ? rule.action : (`would_${rule.action}` as const);

const NO_MATCHES: readonly Match[] = [];

/**
 * The matches of each guardrail (by its index) in the keys (by site index): scanned before the strings, so that a key
 * something is found in is named by its redaction in every path. A key repeated (the same property of each item of a
 * list) is scanned once per guardrail. Guardrails over their size limit scan nothing.
 */
function scanKeys(
  { sites }: Collected,
  guardrails: readonly CompiledGuardrail[],
  options: ScanOptions,
  bytes: number,
): Map<number, Match[]>[] {
  return guardrails.map(({ rule, detectors }) => {
    const found = new Map<number, Match[]>();
    if (bytes > (rule.maxBytes ?? options.maxScanBytes)) return found;
    const byText = new Map<string, Match[]>();
    sites.forEach((site, i) => {
      if (!site.isKey) return;
      let matches = byText.get(site.text);
      if (!matches) {
        matches = [];
        for (const d of detectors) d.find(site.text, undefined, matches, options);
        byText.set(site.text, matches);
      }
      if (matches.length > 0) found.set(i, matches);
    });
    return found;
  });
}

/**
 * The name of each key something was found in: its text with every guardrail's matches redacted, made unique among
 * its object's keys by `#2`, `#3`… in the keys' order (deterministic, and never the name of another key).
 */
function keyNames(groups: readonly KeyGroup[], keyMatches: readonly Map<number, Match[]>[]): Map<number, string> {
  const names = new Map<number, string>();
  if (keyMatches.every((m) => m.size === 0)) return names;
  for (const { keys, sites } of groups) {
    const spans = new Map<number, Match[]>();
    for (const site of sites.keys()) {
      const all = keyMatches.flatMap((m) => m.get(site) ?? []);
      if (all.length > 0) spans.set(site, all);
    }
    if (spans.size === 0) continue;
    const renamed = new Set([...spans.keys()].map((site) => sites.get(site)));
    const taken = new Set(keys.filter((k) => !renamed.has(k)));
    for (const [site, key] of sites) {
      const found = spans.get(site);
      if (!found) continue;
      const base = redactSpans(key, found);
      let name = base;
      for (let n = 2; taken.has(name); n++) name = `${base}#${n}`;
      taken.add(name);
      names.set(site, name);
    }
  }
  return names;
}

/**
 * Applies guardrails to a JSON value: every string, every number (as its decimal text; a redacted one becomes the
 * string of its redaction) and every object key is scanned once by each guardrail's detectors (linear in the text;
 * binary payloads at MCP content positions excepted, with `mcpContent`); a value with more text than a guardrail's
 * limit is blocked by it, whatever its action (never passed unscanned). An enforced `block` withholds the whole value,
 * an enforced `redact` replaces each match (a key is renamed to its redaction), `flag` and log-only guardrails change
 * nothing: all are listed in the findings, whose paths name a key something was found in by its redaction (a finding
 * in a key ends with `~`).
 */
export function applyGuardrails(
  value: unknown,
  guardrails: readonly CompiledGuardrail[],
  options: ScanOptions,
): GuardrailOutcome {
  const findings: GuardrailFinding[] = [];
  const counts = { more: 0 };
  if (guardrails.length === 0) return { value, findings, more: 0 };
  const root: Place = { up: undefined, step: '$' };
  const mcp = options.mcpContent === true;
  const collected: Collected = { sites: [], groups: [], mcp };
  collect(value, root, undefined, collected);
  const { sites } = collected;
  let bytes = 0;
  for (const s of sites) bytes += Buffer.byteLength(s.text);
  const keyMatches = scanKeys(collected, guardrails, options, bytes);
  const masked = keyNames(collected.groups, keyMatches);
  const note = noter(findings, counts);
  const redactions = new Map<number, Match[]>();
  for (let g = 0; g < guardrails.length; g++) {
    const { rule, detectors } = guardrails[g]!;
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
      if (rule.enforce) return { value: undefined, findings, more: counts.more, withheld: finding };
      continue;
    }
    for (let i = 0; i < sites.length; i++) {
      const site = sites[i]!;
      let matches = site.isKey ? (keyMatches[g]!.get(i) ?? NO_MATCHES) : undefined;
      if (!matches) {
        const found: Match[] = [];
        for (const d of detectors) d.find(site.text, site.key, found, options);
        matches = found;
      }
      if (matches.length === 0) continue;
      const path = site.isKey ? `${pathOf(site.at, masked)}~` : pathOf(site.at, masked);
      for (const m of matches) {
        const finding = { guardrail: rule.name, detector: m.detector, path, action };
        note(finding);
        if (action === 'block') return { value: undefined, findings, more: counts.more, withheld: finding };
      }
      if (action === 'redact') redactions.set(i, [...(redactions.get(i) ?? []), ...matches]);
    }
  }
  if (redactions.size === 0) return { value, findings, more: counts.more };
  const replaced = new Map(
    [...redactions].map(([i, spans]) => [i, sites[i]!.isKey ? masked.get(i)! : redactSpans(sites[i]!.text, spans)]),
  );
  return { value: rebuilt(value, root, { replaced, i: 0, mcp }), findings, more: counts.more };
}

/** Notes a finding once (per guardrail, detector and path): at most 100 listed, the rest counted in `more`. */
function noter(findings: GuardrailFinding[], counts: { more: number }): (f: GuardrailFinding) => void {
  const seen = new Set<string>();
  return (f) => {
    const id = `${f.guardrail}\u0000${f.detector}\u0000${f.path}`;
    if (seen.has(id)) return;
    seen.add(id);
    if (findings.length < MAX_FINDINGS) findings.push(f);
    else counts.more++;
  };
}
