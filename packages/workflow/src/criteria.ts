import { JSONPath } from 'jsonpath-plus';
import {
  type Condition,
  ExpressionError,
  evaluateCondition,
  evaluateString,
  parseCondition,
  type Scope,
  stringify,
} from './expressions.ts';
import type { CriterionIR, Dialect } from './ir.ts';

/**
 * Criterion Objects: `simple` conditions, `regex` on a context, `jsonpath` queries on a context
 * (RFC 9535 filter syntax run by jsonpath-plus). `xpath` is refused by the compilers.
 */

const conditionCache = new Map<string, Condition>();

function condition(text: string, dialect: Dialect): Condition {
  const key = `${dialect}\u0000${text}`;
  let c = conditionCache.get(key);
  if (!c) {
    c = parseCondition(text, dialect);
    if (conditionCache.size > 5000) conditionCache.clear();
    conditionCache.set(key, c);
  }
  return c;
}

/**
 * RFC 9535 → jsonpath-plus: `?expr` filters get the parentheses jsonpath-plus wants, `==` / `!=`
 * stay loose (absent equals null), and the RFC functions are provided by the sandbox below.
 */
function toJsonPathPlus(query: string): string {
  let out = '';
  let i = 0;
  while (i < query.length) {
    const c = query[i]!;
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < query.length && query[j] !== c) j += query[j] === '\\' ? 2 : 1;
      out += query.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '[' && query[i + 1] === '?' && query[i + 2] !== '(') {
      // Find the matching `]`, skipping nested brackets and strings.
      let depth = 0;
      let j = i;
      for (; j < query.length; j++) {
        const ch = query[j];
        if (ch === "'" || ch === '"') {
          const q = ch;
          j++;
          while (j < query.length && query[j] !== q) j += query[j] === '\\' ? 2 : 1;
          continue;
        }
        if (ch === '[') depth++;
        else if (ch === ']' && --depth === 0) break;
      }
      const inner = query.slice(i + 2, j);
      out += `[?(${toJsonPathPlus(inner)})]`;
      i = j + 1;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** RFC 9535 function extensions, as sandbox functions (see docs/workflows.md for `count`). */
const sandboxFunctions = {
  count: (v: unknown): number => (v === undefined ? 0 : Array.isArray(v) ? v.length : 1),
  length: (v: unknown): number | null =>
    typeof v === 'string'
      ? [...v].length
      : Array.isArray(v)
        ? v.length
        : v !== null && typeof v === 'object'
          ? Object.keys(v).length
          : null,
  match: (v: unknown, re: unknown): boolean =>
    typeof v === 'string' && typeof re === 'string' && new RegExp(`^(?:${re})$`, 'u').test(v),
  search: (v: unknown, re: unknown): boolean =>
    typeof v === 'string' && typeof re === 'string' && new RegExp(re, 'u').test(v),
  value: (v: unknown): unknown => v,
};

/**
 * A JSONPath criterion holds when the query selects at least one node. A query that starts with a
 * filter on the root (`$[?…]`) tests the context value itself (as Redocly Respect does), so
 * `$[?@.access_token != null]` on a response body asks whether the body has a token.
 */
export function jsonPathMatches(query: string, context: unknown): boolean {
  const translated = toJsonPathPlus(query.trim());
  const json = /^\$\s*\[\s*\?/.test(query.trim()) ? [context] : context;
  if (json === undefined || json === null || typeof json !== 'object') return false;
  const result = JSONPath({
    path: translated,
    json: json as object,
    wrap: true,
    eval: 'safe',
    ignoreEvalErrors: true,
    sandbox: { ...sandboxFunctions },
  }) as unknown[];
  return Array.isArray(result) && result.length > 0;
}

/** Compile-time check of a JSONPath condition. */
function checkJsonPath(query: string): string | undefined {
  if (!query.trim().startsWith('$')) return 'a JSONPath query starts with $';
  try {
    JSONPath({
      path: toJsonPathPlus(query.trim()),
      json: [{}],
      wrap: true,
      eval: 'safe',
      ignoreEvalErrors: false,
      sandbox: { ...sandboxFunctions },
    });
    return undefined;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    // Reading a property of an empty object is fine at compile time; syntax errors are not.
    if (/Cannot read properties|is not defined/.test(msg) && !/Unexpected|Expected/.test(msg)) return undefined;
    return `invalid JSONPath ${JSON.stringify(query)}: ${msg}`;
  }
}

/** Compile-time check of any criterion; returns a problem message or undefined. */
export function checkCriterion(c: CriterionIR, dialect: Dialect): string | undefined {
  try {
    if (c.type === 'simple') {
      parseCondition(c.condition, dialect);
      return undefined;
    }
    if (!c.context) return `a ${c.type} criterion needs a context`;
    if (c.type === 'regex') {
      new RegExp(c.condition);
      return undefined;
    }
    return checkJsonPath(c.condition);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function evaluateCriterion(c: CriterionIR, scope: Scope): boolean {
  switch (c.type) {
    case 'simple':
      return evaluateCondition(condition(c.condition, scope.dialect), scope);
    case 'regex': {
      const ctx = evaluateString(c.context ?? '', scope);
      if (ctx === undefined || ctx === null) return false;
      return new RegExp(c.condition).test(stringify(ctx));
    }
    case 'jsonpath': {
      const ctx = evaluateString(c.context ?? '', scope);
      try {
        return jsonPathMatches(c.condition, ctx);
      } catch (err) {
        throw new ExpressionError(
          `JSONPath criterion ${c.condition} failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }
}

export function allCriteria(criteria: readonly CriterionIR[], scope: Scope): boolean {
  return criteria.every((c) => evaluateCriterion(c, scope));
}
