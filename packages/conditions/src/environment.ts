import { RE2JS } from '@bufbuild/re2';
import { Environment, type EnvironmentOptions } from '@marcbachmann/cel-js';
import { conditionLimits as limits } from './limits.ts';
import { checkerType, type SchemaAt } from './schema.ts';
import { sessionCallType } from './session.ts';

/**
 * The CEL environments (@marcbachmann/cel-js, ADR 0035). Two kinds:
 *
 * - the runtime environment, shared: `caller`, `tool`, `args` and `session` are plain maps (no conversion of the
 *   data per call), and `matchRE`, which the runtime text calls where the condition says `matches`
 *   (same length, so every offset stays the same): the library's own `matches` runs JavaScript's
 *   backtracking RegExp, whose time a pattern like `^(a+)+$` makes exponential; RE2 is linear;
 * - checking environments, per input schema: `caller`, `tool` and `session` with their fields, `args` typed
 *   from the schema, for the library's type checker (when a condition is saved).
 */
const options: EnvironmentOptions = {
  // As CEL's own checkers by default: `[10, 20.5]` is a list of dyn, not an error.
  homogeneousAggregateLiterals: false,
  limits: {
    maxAstNodes: limits.maxAstNodes,
    maxDepth: limits.maxDepth,
    maxListElements: limits.maxLiteralEntries,
    maxMapEntries: limits.maxLiteralEntries,
    maxCallArguments: 8,
  },
};

/** Compiled RE2 patterns by source (patterns are literals of compiled conditions; cleared past 1,000). */
const patterns = new Map<string, RE2JS>();

function re2(pattern: string): RE2JS {
  let re = patterns.get(pattern);
  if (!re) {
    if (patterns.size >= 1000) patterns.clear();
    re = RE2JS.compile(pattern);
    patterns.set(pattern, re);
  }
  return re;
}

/** What the runtime text names instead of `matches` (seven letters too). */
export const RUNTIME_MATCHES = 'matchRE';

export const runtimeEnvironment = new Environment(options)
  .registerVariable('caller', 'map')
  .registerVariable('tool', 'map')
  .registerVariable('args', 'map')
  .registerVariable('session', 'map')
  .registerFunction(`string.${RUNTIME_MATCHES}(string): bool`, (s: string, pattern: string) => re2(pattern).test(s));

const checkingBase = new Environment(options)
  .registerVariable({
    name: 'caller',
    schema: { key_id: 'string', key_name: 'string', subject: 'string', claims: 'map<string, dyn>', user: 'string' },
  })
  .registerVariable({
    name: 'tool',
    schema: { name: 'string', server_id: 'string', server_name: 'string', annotations: 'map<string, dyn>' },
  })
  .registerType({ name: 'session_call', schema: sessionCallType })
  .registerVariable({
    name: 'session',
    schema: { labels: 'list<string>', tools_called: 'list<string>', calls: 'list<session_call>' },
  });

let untyped: Environment | undefined;

/** The checking environment for a tool's input schema (none: `args` is a map of anything). */
export function checkingEnvironment(args: SchemaAt | undefined): Environment {
  if (!args) return (untyped ??= checkingBase.clone().registerVariable('args', 'map<string, dyn>'));
  const type = checkerType(args);
  const env = checkingBase.clone();
  // Arguments are always an object; a schema that says otherwise (or nothing checkable) leaves them a map.
  if (typeof type === 'string') return env.registerVariable('args', 'map<string, dyn>');
  return env.registerVariable({ name: 'args', schema: type });
}
