import type { ASTNode, ParseResult } from '@marcbachmann/cel-js';
import type { ConditionActivation } from './activation.ts';
import { analyze, position, type CheckPoint, type Problem } from './analyze.ts';
import { checkDataLimits } from './data-limits.ts';
import { checkingEnvironment, runtimeEnvironment, RUNTIME_MATCHES } from './environment.ts';
import { conditionLimits as limits } from './limits.ts';
import type { JsonSchema } from './schema.ts';
import { sessionProblem } from './session.ts';

const internal = Symbol('condition');

interface Internals {
  readonly run: ParseResult;
  readonly points: readonly CheckPoint[];
  readonly runtimeText: string;
  readonly conjuncts: readonly { start: number; end: number }[];
  /** It reads `session`: the activation's session is checked first (session.ts). */
  readonly session: boolean;
  /** Compiled on the first explain that needs them. */
  conjunctRuns?: (ParseResult | undefined)[];
}

/** A compiled condition: compile once (per policy document), evaluate per call. Opaque apart from these. */
export interface Condition {
  readonly text: string;
  /** The worst-case cost estimated when compiled, in units (limits.ts). */
  readonly cost: number;
  readonly [internal]: Internals;
}

export interface CompileOptions {
  /** The tool's input schema: every argument the condition names must be one of its properties. */
  inputSchema?: JsonSchema | undefined;
}

export type CompileResult = { ok: true; condition: Condition } | { ok: false; problems: Problem[] };

interface LibraryError {
  code?: string;
  summary?: string;
  message?: string;
  range?: { start: number; end: number };
}

const asLibraryError = (e: unknown): LibraryError => (typeof e === 'object' && e !== null ? e : {});

function problemFrom(text: string, e: unknown, hint = ''): Problem {
  const err = asLibraryError(e);
  const summary = err.summary ?? err.message?.split('\n')[0] ?? String(e);
  const message = err.code === 'limit_exceeded' ? `the condition is too large: ${summary}` : summary;
  if (!err.range) return { path: '', message: message + hint };
  const at = position(text, err.range.start, err.range.end);
  return { path: '', message: `${message}${hint} (line ${at.line}, column ${at.column})`, position: at };
}

/** Hints for the checker's messages that people meet first. */
function typeHint(summary: string): string {
  if (/\bnull\b/.test(summary)) return ': test whether an argument or field is present with has(args.x), not == null';
  if (/\bdouble\b/.test(summary) && /\bint\b/.test(summary))
    return ': CEL does not mix int and double literals (write 1.0 where the other side is a double)';
  return '';
}

/**
 * Compiles a condition: syntax, names (`caller`, `tool`, `args`, `session`; each argument against the input schema
 * when given), functions, types where cheap, and its worst-case cost (ADR 0035). Every problem found is
 * listed, with its position. Compile once, evaluate per call.
 */
export function compileCondition(text: string, options: CompileOptions = {}): CompileResult {
  if (typeof text !== 'string' || text.trim() === '')
    return { ok: false, problems: [{ path: '', message: 'the condition is empty' }] };
  if (text.length > limits.maxTextLength)
    return {
      ok: false,
      problems: [
        { path: '', message: `the condition is longer than ${limits.maxTextLength} characters (${text.length})` },
      ],
    };
  const schema = options.inputSchema;
  const schemaAt =
    typeof schema === 'boolean' || (typeof schema === 'object' && schema !== null && !Array.isArray(schema))
      ? { root: schema, node: schema }
      : undefined;
  const env = checkingEnvironment(schemaAt);
  let ast: ASTNode;
  try {
    ast = env.parse(text).ast;
  } catch (e) {
    return { ok: false, problems: [problemFrom(text, e)] };
  }
  const analysis = analyze(text, ast, schemaAt);
  if (analysis.problems.length > 0) return { ok: false, problems: analysis.problems };
  const checked = env.check(text);
  if (!checked.valid) {
    const summary = asLibraryError(checked.error).summary ?? '';
    return { ok: false, problems: [problemFrom(text, checked.error, typeHint(summary))] };
  }
  if (checked.type !== 'bool' && checked.type !== 'dyn')
    return {
      ok: false,
      problems: [{ path: '', message: `a condition must be true or false; this one is a ${checked.type}` }],
    };
  let runtimeText = text;
  for (const at of analysis.matchesAt)
    runtimeText = runtimeText.slice(0, at) + RUNTIME_MATCHES + runtimeText.slice(at + RUNTIME_MATCHES.length);
  let run: ParseResult;
  try {
    run = runtimeEnvironment.parse(runtimeText);
  } catch (e) {
    return { ok: false, problems: [problemFrom(text, e)] };
  }
  const internals: Internals = {
    run,
    points: analysis.checkPoints,
    runtimeText,
    conjuncts: analysis.conjuncts,
    session: analysis.session,
  };
  return { ok: true, condition: Object.freeze({ text, cost: analysis.cost, [internal]: internals }) };
}

/** The word of `session` as an identifier, wherever it stands (a field, a literal, a comment: never fewer). */
const sessionWord = /(?<![A-Za-z0-9_])session(?![A-Za-z0-9_])/;

/**
 * Whether a condition reads `session` (so the caller's session must be read from Redis before it is evaluated). A
 * compiled condition, or a compile result, says exactly (what its analysis found; a condition that did not compile reads
 * nothing: it is never true); a text is answered without compiling, by the word `session` anywhere in it (a field
 * `args.session` or a literal "session" too: never a condition that reads it answered false).
 */
export function usesSession(condition: Condition | CompileResult | string): boolean {
  if (typeof condition === 'string') return sessionWord.test(condition);
  if ('ok' in condition) return condition.ok && condition.condition[internal].session;
  return condition[internal].session;
}

/**
 * Whether the condition holds for this call. Never throws: data over the condition's size limits, a
 * missing argument or field, a value of another type than the condition expects, an absent or malformed
 * session (for a condition that reads it), or any other error makes it false (so a grant with a condition
 * applies only when the condition is positively true).
 */
export function evaluate(condition: Condition, activation: ConditionActivation): boolean {
  // A missing argument is an error inside the library, and an error's stack trace costs microseconds
  // to capture; nothing reads it here (evaluation is synchronous, so no other code sees the setting).
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const c = condition[internal];
    if (c.session && sessionProblem(activation) !== undefined) return false;
    if (c.points.length > 0 && checkDataLimits(c.points, activation) !== undefined) return false;
    return c.run(activation) === true;
  } catch {
    return false;
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

export interface Explanation {
  value: boolean;
  /** Why it is false: a size over the limits, an error (e.g. a missing argument), or the part that is false. */
  reason?: string;
  /** The part of the condition that failed (the first top-level `&&` operand that is not true, or where an error arose). */
  failed?: { text: string; start: number; end: number };
  /** True when an error (a missing argument or field, another type, data over the limits) made it false, not a value. */
  error?: true;
}

const readable = (s: string) => s.replaceAll(RUNTIME_MATCHES, 'matches');

/** From an evaluation error: its message, and the top-level `&&` operand it arose in (else where it arose). */
function fromError(condition: Condition, e: unknown): Explanation {
  const err = asLibraryError(e);
  let reason = readable(err.summary ?? err.message?.split('\n')[0] ?? String(e));
  if (err.code === 'no_such_key')
    reason += ' (the call has no such argument or field: has(args.x) tests whether it is there)';
  if (!err.range) return { value: false, reason, error: true };
  const { start, end } = err.range;
  const part = condition[internal].conjuncts.find((p) => p.start <= start && end <= p.end);
  const at = part && condition[internal].conjuncts.length > 1 ? part : { start, end };
  return { value: false, reason, failed: { text: condition.text.slice(at.start, at.end), ...at }, error: true };
}

/**
 * Like `evaluate`, and says why a condition is false (for the refusal's message and audit event).
 * Costs more than `evaluate` (it may evaluate each top-level `&&` operand again): call it on refusals only.
 */
export function explain(condition: Condition, activation: ConditionActivation): Explanation {
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return explainWithoutStacks(condition, activation);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

function explainWithoutStacks(condition: Condition, activation: ConditionActivation): Explanation {
  const c = condition[internal];
  let result: unknown;
  try {
    const session = c.session ? sessionProblem(activation) : undefined;
    if (session) return { value: false, reason: session, error: true };
    const over = checkDataLimits(c.points, activation);
    if (over) return { value: false, reason: over, error: true };
    result = c.run(activation);
  } catch (e) {
    return fromError(condition, e);
  }
  if (result === true) return { value: true };
  if (c.conjuncts.length > 1) {
    c.conjunctRuns ??= [];
    for (const [i, part] of c.conjuncts.entries()) {
      let run = c.conjunctRuns[i];
      try {
        run ??= c.conjunctRuns[i] = runtimeEnvironment.parse(c.runtimeText.slice(part.start, part.end));
      } catch {
        continue;
      }
      const failed = { text: condition.text.slice(part.start, part.end), ...part };
      try {
        if (run(activation) !== true) return { value: false, reason: `${failed.text} is false`, failed };
      } catch (e) {
        return { value: false, reason: fromError(condition, e).reason ?? `${failed.text} failed`, failed, error: true };
      }
    }
  }
  const whole = { text: condition.text, start: 0, end: condition.text.length };
  if (result === false) return { value: false, reason: 'the condition is false', failed: whole };
  return { value: false, reason: 'the condition did not give true or false', failed: whole, error: true };
}
