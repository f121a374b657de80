import { compile as compileJmesPath, search as jmesSearch, type JSONValue } from '@jmespath-community/jmespath';
import type { Dialect } from './ir.ts';

/**
 * Runtime expressions: the Arazzo 1.0.1 grammar (`$url`, `$method`, `$statusCode`, `$request.*`,
 * `$response.*`, `$inputs`, `$outputs`, `$steps`, `$workflows`, `$sourceDescriptions`,
 * `$components`, JSON pointers after `#`, `{$…}` embedded in strings) and Bump's dialect used by
 * Flower (dot paths with numeric segments, bare `$…` interpolation, JMESPath when brackets or a
 * function call appear, `$secrets`, `$config`, `$current_user`). The Bump-specific roots are
 * accepted in Arazzo documents too: Bump runs both formats on one data plane.
 */

export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
}

type Root =
  | 'url'
  | 'method'
  | 'statusCode'
  | 'status'
  | 'request'
  | 'response'
  | 'inputs'
  | 'outputs'
  | 'steps'
  | 'workflows'
  | 'sourceDescriptions'
  | 'components'
  | 'secrets'
  | 'config'
  | 'current_user';

/** Longest first, so `$statusCode` is not read as `$status` followed by `Code`. */
const roots: Root[] = [
  'sourceDescriptions',
  'current_user',
  'statusCode',
  'components',
  'workflows',
  'response',
  'request',
  'outputs',
  'secrets',
  'inputs',
  'method',
  'status',
  'config',
  'steps',
  'url',
];

export interface ExpressionRef {
  /** The expression as written, e.g. `$response.body#/0/id`. */
  text: string;
  root: Root;
  path: string[];
  /** Decoded RFC 6901 pointer tokens after `#`. */
  pointer?: string[];
}

const nameChar = /[A-Za-z0-9_-]/;
/** RFC 9110 tchar: header names after `header.` / `headers.`. */
const headerChar = /[A-Za-z0-9!#$%&'*+\-.^_`|~]/;

/**
 * Reads one `$…` reference starting at `start` (which must be `$`). Returns undefined when the text
 * there is not a reference to a known root (e.g. `$100`).
 */
function parseRefAt(text: string, start: number): { ref: ExpressionRef; end: number } | undefined {
  if (text[start] !== '$') return undefined;
  let root: Root | undefined;
  for (const r of roots) {
    if (text.startsWith(r, start + 1) && !nameChar.test(text[start + 1 + r.length] ?? '')) {
      root = r;
      break;
    }
  }
  if (!root) return undefined;
  let i = start + 1 + root.length;
  const path: string[] = [];
  for (;;) {
    if (text[i] === '.' && nameChar.test(text[i + 1] ?? '')) {
      const prev = path[path.length - 1];
      const isHeader =
        (prev === 'header' || prev === 'headers') &&
        ((path.length === 1 && (root === 'request' || root === 'response')) ||
          (root === 'steps' && path.length === 3 && (path[1] === 'request' || path[1] === 'response')));
      const chars = isHeader ? headerChar : nameChar;
      let j = i + 1;
      while (j < text.length && chars.test(text[j]!)) j++;
      let seg = text.slice(i + 1, j);
      if (isHeader) {
        // A sentence-ending dot is not part of a header name.
        const trimmed = seg.replace(/\.+$/, '');
        j -= seg.length - trimmed.length;
        seg = trimmed;
      }
      path.push(seg);
      i = j;
      continue;
    }
    // The `[n]` index operator: `$inputs.items[0]` reads element 0. Other brackets (`[*]`, `[?…]`,
    // `[0:3]`) end the reference; in Flower they make the whole value a JMESPath query.
    const index = path.length > 0 ? /^\[(0|[1-9][0-9]*)\]/.exec(text.slice(i)) : null;
    if (index) {
      path.push(index[1]!);
      i += index[0].length;
      continue;
    }
    break;
  }
  let pointer: string[] | undefined;
  if (text[i] === '#' && (text[i + 1] === '/' || i + 1 === text.length || /[\s})]/.test(text[i + 1]!))) {
    let j = i + 1;
    while (j < text.length && !/[\s})]/.test(text[j]!)) j++;
    const raw = text.slice(i + 1, j);
    pointer =
      raw === ''
        ? []
        : raw
            .split('/')
            .slice(1)
            .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    i = j;
  }
  const ref: ExpressionRef = { text: text.slice(start, i), root, path };
  if (pointer) ref.pointer = pointer;
  return { ref, end: i };
}

/** Parses a whole string as exactly one reference (`$…` or `{$…}`), or returns undefined. */
function parseWholeRef(text: string): ExpressionRef | undefined {
  const s = text.trim();
  if (s.startsWith('{$') && s.endsWith('}')) {
    const r = parseRefAt(s, 1);
    if (r && r.end === s.length - 1) return r.ref;
    return undefined;
  }
  const r = parseRefAt(s, 0);
  return r && r.end === s.length ? r.ref : undefined;
}

// ---------------------------------------------------------------------------------------------
// Evaluation scope

export interface RequestState {
  method: string;
  url: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  query: Record<string, unknown>;
  path: Record<string, unknown>;
  body?: unknown;
}

export interface ResponseState {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: unknown;
}

export interface StepState {
  outputs: Record<string, unknown>;
  request?: RequestState;
  response?: ResponseState;
}

export interface Scope {
  dialect: Dialect;
  inputs: Record<string, unknown>;
  /** Depends on where the expression sits: the step's outputs so far (Flower step outputs), a called workflow's outputs (Arazzo workflow step), the workflow's outputs so far. */
  outputs: Record<string, unknown>;
  steps: Record<string, StepState>;
  workflows: Record<string, { inputs: Record<string, unknown>; outputs: Record<string, unknown> }>;
  request?: RequestState;
  response?: ResponseState;
  sources: Record<string, unknown>;
  components: Record<string, unknown>;
  secrets: ReadonlyMap<string, string>;
  /** `Config-*` request headers: normalised name (lower case, `_` → `-`) → value. */
  config: ReadonlyMap<string, string>;
  currentUserToken?: string;
  /** The verified external user (name, attributes): wins over `Config-*` headers in `$current_user.*`. */
  currentUser?: Readonly<Record<string, string>>;
}

/** `Config-Org-Id`, `org_id`, `ORG_ID` and `Org-Id` all become `org-id`. */
export function normaliseConfigName(name: string): string {
  return name
    .toLowerCase()
    .replace(/^config-/, '')
    .replace(/_/g, '-');
}

function own(obj: unknown, key: string): unknown {
  if (obj === null || typeof obj !== 'object') return undefined;
  if (Array.isArray(obj)) {
    if (!/^(0|[1-9][0-9]*)$/.test(key)) return key === 'length' ? obj.length : undefined;
    return obj[Number(key)];
  }
  return Object.hasOwn(obj, key) ? (obj as Record<string, unknown>)[key] : undefined;
}

function walk(value: unknown, path: readonly string[]): unknown {
  let cur = value;
  for (const seg of path) {
    if (cur === undefined || cur === null) return undefined;
    cur = own(cur, seg);
  }
  return cur;
}

function headerView(headers: Record<string, string> | undefined, path: string[]): unknown {
  if (!headers) return undefined;
  if (path.length === 0) return headers;
  return headers[path.join('.').toLowerCase()];
}

function messageView(msg: RequestState | ResponseState | undefined, path: string[]): unknown {
  if (!msg) return undefined;
  const [first, ...rest] = path;
  if (first === undefined) return msg;
  if (first === 'header' || first === 'headers') return headerView(msg.headers, rest);
  if (first === 'body') return walk(msg.body, rest);
  if (first === 'status' && 'status' in msg) return walk(msg.status, rest);
  if ((first === 'query' || first === 'path') && 'query' in msg) return walk(msg[first], rest);
  if ((first === 'method' || first === 'url') && 'method' in msg) return walk(msg[first], rest);
  return undefined;
}

function resolveRef(ref: ExpressionRef, scope: Scope): unknown {
  let value: unknown;
  const path = ref.path;
  switch (ref.root) {
    case 'url':
      value = walk(scope.request?.url, path);
      break;
    case 'method':
      value = walk(scope.request?.method, path);
      break;
    case 'statusCode':
    case 'status':
      value = walk(scope.response?.status, path);
      break;
    case 'request':
      value = messageView(scope.request, path);
      break;
    case 'response':
      value = messageView(scope.response, path);
      break;
    case 'inputs':
      value = walk(scope.inputs, path);
      break;
    case 'outputs':
      value = walk(scope.outputs, path);
      break;
    case 'steps': {
      const [id, part, ...rest] = path;
      const step = id === undefined ? undefined : scope.steps[id];
      if (id === undefined) value = scope.steps;
      else if (!step) value = undefined;
      else if (part === undefined) value = step;
      else if (part === 'request') value = messageView(step.request, rest);
      else if (part === 'response') value = messageView(step.response, rest);
      else value = walk(step, [part, ...rest]);
      break;
    }
    case 'workflows':
      value = walk(scope.workflows, path);
      break;
    case 'sourceDescriptions':
      value = walk(scope.sources, path);
      break;
    case 'components':
      value = walk(scope.components, path);
      break;
    case 'secrets':
      value = path.length === 0 ? undefined : scope.secrets.get(path.join('.'));
      break;
    case 'config':
      // Bump: an absent Config-* header reads as an empty string.
      value = path.length === 0 ? undefined : (scope.config.get(normaliseConfigName(path.join('.'))) ?? '');
      break;
    case 'current_user':
      if (path.length === 1 && path[0] === 'token') value = scope.currentUserToken;
      else if (path.length === 1 && scope.currentUser && Object.hasOwn(scope.currentUser, path[0]!))
        value = scope.currentUser[path[0]!];
      else value = path.length === 0 ? undefined : (scope.config.get(normaliseConfigName(path.join('.'))) ?? '');
      break;
  }
  if (ref.pointer) value = walk(value, ref.pointer);
  return value;
}

// ---------------------------------------------------------------------------------------------
// JMESPath (Bump's extension, Flower only)

function jmesIdentifier(seg: string): string {
  if (/^(0|[1-9][0-9]*)$/.test(seg)) return `[${seg}]`;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) return `.${seg}`;
  return `."${seg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** True when a Flower value is a JMESPath query rather than a path or an interpolated string. */
function isJmesPath(text: string): boolean {
  const s = text.trim();
  // JMESPath functions are lower-case snake names: `avg($…)`, `max_by($…, &age).name`.
  if (/^[a-z_][a-z0-9_]*\(/.test(s) && s.includes('$')) return true;
  if (s.startsWith('$')) {
    const r = parseRefAt(s, 0);
    return r !== undefined && !r.ref.pointer && s[r.end] === '[';
  }
  return false;
}

/** Rewrites every `$root.a.0.b` in a JMESPath text to `root.a[0].b`, leaving literals alone. */
function toJmesPathText(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '`' || c === "'" || c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '$') {
      const r = parseRefAt(text, i);
      if (r) {
        if (r.ref.pointer) throw new ExpressionError(`JSON pointers cannot be combined with JMESPath: ${r.ref.text}`);
        out += r.ref.root + r.ref.path.map(jmesIdentifier).join('');
        i = r.end;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}

function messageData(msg: RequestState | ResponseState | undefined): unknown {
  if (!msg) return null;
  return { ...msg, header: msg.headers };
}

function jmesData(scope: Scope): Record<string, unknown> {
  const steps: Record<string, unknown> = {};
  for (const [id, s] of Object.entries(scope.steps))
    steps[id] = { outputs: s.outputs, request: messageData(s.request), response: messageData(s.response) };
  const config: Record<string, string> = {};
  for (const [k, v] of scope.config) config[k.replace(/-/g, '_')] = v;
  return {
    inputs: scope.inputs,
    outputs: scope.outputs,
    steps,
    workflows: scope.workflows,
    request: messageData(scope.request),
    response: messageData(scope.response),
    url: scope.request?.url ?? null,
    method: scope.request?.method ?? null,
    statusCode: scope.response?.status ?? null,
    status: scope.response?.status ?? null,
    secrets: Object.fromEntries(scope.secrets),
    config,
    current_user: { ...config, ...scope.currentUser, token: scope.currentUserToken ?? null },
    sourceDescriptions: scope.sources,
    components: scope.components,
  };
}

/** Strips `undefined` (JMESPath data must be JSON). */
function toJson(value: unknown): JSONValue {
  return JSON.parse(JSON.stringify(value ?? null)) as JSONValue;
}

function evaluateJmesPath(text: string, scope: Scope): unknown {
  const query = toJmesPathText(text.trim());
  try {
    return jmesSearch(toJson(jmesData(scope)), query);
  } catch (err) {
    throw new ExpressionError(
      `JMESPath query failed (${text.trim()}): ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Strings and templates

/** How a value reads inside a larger string. */
export function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * Evaluates one string value: a whole expression keeps the referenced value's type; otherwise the
 * embedded expressions (`{$…}` in both dialects, bare `$…` in Flower) are replaced by their text.
 * Anything that is not an expression (`$100`, `{name}`) stays as written; in Flower, `$$` is a `$`.
 */
export function evaluateString(text: string, scope: Scope): unknown {
  if (scope.dialect === 'flower' && isJmesPath(text)) return evaluateJmesPath(text, scope);
  const whole = parseWholeRef(text);
  if (whole) return resolveRef(whole, scope);
  return interpolate(text, scope.dialect, (ref) => stringify(resolveRef(ref, scope)));
}

function interpolate(text: string, dialect: Dialect, render: (ref: ExpressionRef) => string): string {
  if (!text.includes('$')) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '{' && text[i + 1] === '$') {
      const r = parseRefAt(text, i + 1);
      if (r && text[r.end] === '}') {
        out += render(r.ref);
        i = r.end + 1;
        continue;
      }
    }
    if (dialect === 'flower' && c === '$') {
      if (text[i + 1] === '$') {
        out += '$';
        i += 2;
        continue;
      }
      const r = parseRefAt(text, i);
      if (r) {
        out += render(r.ref);
        i = r.end;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}

/** Evaluates a value template: strings as above, arrays and objects member by member (keys stay literal). */
export function evaluateTemplate(value: unknown, scope: Scope): unknown {
  if (typeof value === 'string') return evaluateString(value, scope);
  if (Array.isArray(value)) return value.map((v) => evaluateTemplate(v, scope));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = evaluateTemplate(v, scope);
      if (r !== undefined) out[k] = r;
    }
    return out;
  }
  return value;
}

/** Every reference a value template contains (for compile-time checks and secret collection). */
export function collectRefs(value: unknown, dialect: Dialect, out: ExpressionRef[] = []): ExpressionRef[] {
  if (typeof value === 'string') {
    if (dialect === 'flower' && isJmesPath(value)) {
      scanRefs(value, out);
      return out;
    }
    const whole = parseWholeRef(value);
    if (whole) out.push(whole);
    else interpolate(value, dialect, (ref) => (out.push(ref), ''));
  } else if (Array.isArray(value)) {
    for (const v of value) collectRefs(v, dialect, out);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) collectRefs(v, dialect, out);
  }
  return out;
}

function scanRefs(text: string, out: ExpressionRef[]): void {
  for (let i = text.indexOf('$'); i >= 0; i = text.indexOf('$', i + 1)) {
    const r = parseRefAt(text, i);
    if (r) out.push(r.ref);
  }
}

/** Compile-time check of a value template; returns problems (empty when fine). */
export function checkTemplate(value: unknown, dialect: Dialect): string[] {
  const problems: string[] = [];
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      if (dialect === 'flower' && isJmesPath(v)) {
        try {
          compileJmesPath(toJmesPathText(v.trim()));
        } catch (err) {
          problems.push(
            `invalid JMESPath expression ${JSON.stringify(v)}: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(value);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Conditions: `$statusCode == 200 && $response.body#/ok`, `$response.body.status == 'pending' OR !$x`

type CondNode =
  | { k: 'lit'; v: unknown }
  | { k: 'expr'; text: string }
  | { k: 'not'; e: CondNode }
  | { k: 'and' | 'or'; a: CondNode; b: CondNode }
  | { k: 'cmp'; op: CmpOp; a: CondNode; b: CondNode };

type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

type Token =
  { t: 'op'; v: CmpOp | '&&' | '||' | '!' | '(' | ')' } | { t: 'lit'; v: unknown } | { t: 'expr'; v: string };

function tokenize(src: string, dialect: Dialect): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (['==', '!=', '<=', '>=', '&&', '||'].includes(two)) {
      tokens.push({ t: 'op', v: two as CmpOp });
      i += 2;
      continue;
    }
    if ('<>!()'.includes(c)) {
      tokens.push({ t: 'op', v: c as '<' });
      i++;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let s = '';
      for (;;) {
        if (j >= src.length) throw new ExpressionError(`unterminated string in condition: ${src}`);
        if (src[j] === c) {
          if (src[j + 1] === c) {
            s += c;
            j += 2;
            continue;
          }
          break;
        }
        s += src[j];
        j++;
      }
      tokens.push({ t: 'lit', v: s });
      i = j + 1;
      continue;
    }
    const num = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(src.slice(i));
    if (num && !/[A-Za-z_$]/.test(src[i + num[0].length] ?? '')) {
      tokens.push({ t: 'lit', v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    if (c === '$' || (c === '{' && src[i + 1] === '$')) {
      const braced = c === '{';
      const r = parseRefAt(src, braced ? i + 1 : i);
      if (!r) throw new ExpressionError(`unknown runtime expression at ${JSON.stringify(src.slice(i, i + 24))}`);
      let end = r.end;
      if (dialect === 'flower' && src[end] === '[' && !r.ref.pointer) {
        // A JMESPath tail: brackets and further segments belong to the operand.
        let depth = 0;
        while (end < src.length) {
          const ch = src[end]!;
          if (ch === '[') depth++;
          else if (ch === ']') depth--;
          else if (depth === 0 && !/[A-Za-z0-9_.-]/.test(ch)) break;
          end++;
        }
      }
      if (braced) {
        if (src[end] !== '}') throw new ExpressionError(`missing } after ${src.slice(i, end)}`);
        tokens.push({ t: 'expr', v: src.slice(i + 1, end) });
        i = end + 1;
      } else {
        tokens.push({ t: 'expr', v: src.slice(i, end) });
        i = end;
      }
      continue;
    }
    const word = /^[A-Za-z_]+/.exec(src.slice(i));
    if (word) {
      const w = word[0];
      if (w === 'true' || w === 'false') tokens.push({ t: 'lit', v: w === 'true' });
      else if (w === 'null') tokens.push({ t: 'lit', v: null });
      else if (w === 'AND' || w === 'and') tokens.push({ t: 'op', v: '&&' });
      else if (w === 'OR' || w === 'or') tokens.push({ t: 'op', v: '||' });
      else throw new ExpressionError(`unexpected ${JSON.stringify(w)} in condition (strings need single quotes)`);
      i += w.length;
      continue;
    }
    throw new ExpressionError(`unexpected ${JSON.stringify(c)} in condition`);
  }
  return tokens;
}

export interface Condition {
  source: string;
  ast: CondNode;
}

/** Parses a condition; throws ExpressionError naming the problem. `{$statusCode == 401}` is accepted too. */
export function parseCondition(source: string, dialect: Dialect): Condition {
  let src = source.trim();
  if (src.startsWith('{$') && src.endsWith('}') && !parseWholeRef(src)) src = src.slice(1, -1);
  if (src === '') throw new ExpressionError('empty condition');
  const tokens = tokenize(src, dialect);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const isOp = (v: string): boolean => {
    const t = peek();
    return t?.t === 'op' && t.v === v;
  };
  const parseOr = (): CondNode => {
    let a = parseAnd();
    while (isOp('||')) {
      pos++;
      a = { k: 'or', a, b: parseAnd() };
    }
    return a;
  };
  const parseAnd = (): CondNode => {
    let a = parseCmp();
    while (isOp('&&')) {
      pos++;
      a = { k: 'and', a, b: parseCmp() };
    }
    return a;
  };
  const parseCmp = (): CondNode => {
    const a = parseUnary();
    const t = peek();
    if (t?.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.v)) {
      pos++;
      return { k: 'cmp', op: t.v as CmpOp, a, b: parseUnary() };
    }
    return a;
  };
  const parseUnary = (): CondNode => {
    const t = peek();
    if (!t) throw new ExpressionError(`condition ends too early: ${source}`);
    pos++;
    if (t.t === 'op' && t.v === '!') return { k: 'not', e: parseUnary() };
    if (t.t === 'op' && t.v === '(') {
      const e = parseOr();
      if (!isOp(')')) throw new ExpressionError(`missing ) in condition: ${source}`);
      pos++;
      return e;
    }
    if (t.t === 'lit') return { k: 'lit', v: t.v };
    if (t.t === 'expr') {
      if (dialect === 'flower' && isJmesPath(t.v)) {
        try {
          compileJmesPath(toJmesPathText(t.v));
        } catch (err) {
          throw new ExpressionError(
            `invalid JMESPath in condition (${t.v}): ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
      return { k: 'expr', text: t.v };
    }
    throw new ExpressionError(`unexpected ${t.v} in condition: ${source}`);
  };
  const ast = parseOr();
  if (pos < tokens.length)
    throw new ExpressionError(`unexpected ${JSON.stringify(tokens[pos]!.v)} in condition: ${source}`);
  return { source, ast };
}

/** Truthiness of a lone operand (`when: $response.body.error`). */
function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'string') return v.toLowerCase() !== 'false';
  return true;
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return undefined;
}

/**
 * Loose comparison (Arazzo: "loose comparisons"): absent equals null; numbers and numeric strings
 * compare as numbers; booleans and `'true'` / `'false'` compare as words; strings compare case
 * insensitively in Arazzo (the spec's MUST) and exactly in Flower; objects by their JSON.
 */
function compare(op: CmpOp, a: unknown, b: unknown, caseInsensitive: boolean): boolean {
  const aNull = a === undefined || a === null;
  const bNull = b === undefined || b === null;
  if (aNull || bNull) {
    if (op === '==') return aNull && bNull;
    if (op === '!=') return !(aNull && bNull);
    return false;
  }
  const an = asNumber(a);
  const bn = asNumber(b);
  const ordering = op !== '==' && op !== '!=';
  if (an !== undefined && bn !== undefined && (typeof a === 'number' || typeof b === 'number' || ordering)) {
    return cmpValues(op, an, bn);
  }
  if (typeof a === 'boolean' || typeof b === 'boolean') {
    const sa = String(a).toLowerCase();
    const sb = String(b).toLowerCase();
    return cmpValues(op, sa, sb);
  }
  if (typeof a === 'object' || typeof b === 'object') {
    const eq = JSON.stringify(a) === JSON.stringify(b);
    if (op === '==') return eq;
    if (op === '!=') return !eq;
    return false;
  }
  let sa = String(a);
  let sb = String(b);
  if (caseInsensitive) {
    sa = sa.toLowerCase();
    sb = sb.toLowerCase();
  }
  return cmpValues(op, sa, sb);
}

function cmpValues<T extends number | string>(op: CmpOp, a: T, b: T): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

export function evaluateCondition(cond: Condition, scope: Scope): boolean {
  const ci = scope.dialect === 'arazzo';
  const value = (n: CondNode): unknown => {
    switch (n.k) {
      case 'lit':
        return n.v;
      case 'expr':
        return evaluateString(n.text, scope);
      case 'not':
        return !truthy(value(n.e));
      case 'and':
        return truthy(value(n.a)) && truthy(value(n.b));
      case 'or':
        return truthy(value(n.a)) || truthy(value(n.b));
      case 'cmp':
        return compare(n.op, value(n.a), value(n.b), ci);
    }
  };
  return truthy(value(cond.ast));
}

/** References a condition reads (compile-time checks). */
export function conditionRefs(cond: Condition): ExpressionRef[] {
  const out: ExpressionRef[] = [];
  const visit = (n: CondNode): void => {
    if (n.k === 'expr') {
      const w = parseWholeRef(n.text);
      if (w) out.push(w);
      else scanRefs(n.text, out);
    } else if (n.k === 'not') visit(n.e);
    else if (n.k === 'and' || n.k === 'or' || n.k === 'cmp') {
      visit(n.a);
      visit(n.b);
    }
  };
  visit(cond.ast);
  return out;
}
