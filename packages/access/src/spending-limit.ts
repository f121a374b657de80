import { z } from 'zod';
import { portableRule, type RuleCaller, type RuleDecision, type RuleTool } from './portable-rule.ts';

/**
 * The spending limit (ADR 0101): a server's bound on one numeric argument of its tools' calls (`amount`, or a nested
 * `order.total`), the same for every caller or set per caller (an API key, a person, an OAuth subject), enforced or
 * log-only. A portable rule: the edge's calls and the worker's workflow steps run it through their adapters.
 *
 * What a client that lies sends is judged closed: only a JSON number is a value (a string "150" is refused, as the
 * upstream may read it as 150); the bound is on its magnitude (-500 moves as much as 500; -0 is 0); a number beyond
 * 2^53 (which JSON readers round differently) is over any limit (limits stop below it); a missing argument, or a path through
 * something other than objects (an array, a string), is refused on a tool that declares the argument. A tool that
 * does not declare it but takes any argument (no `additionalProperties: false`) is judged only when the call sends it.
 */

const segment = /^[A-Za-z0-9_$-]{1,128}$/;

/** `key:<API key id>`, `person:<external user name>` or `subject:<OAuth subject>`. */
const callerKey = z
  .string()
  .regex(/^(key|person|subject):.{1,200}$/, 'names a caller as key:<API key id>, person:<name> or subject:<OAuth sub>');

const limit = z.number().finite().min(0).max(Number.MAX_SAFE_INTEGER);

export const SpendingLimitSettings = z.strictObject({
  argument: z
    .string()
    .max(512)
    .refine((p) => p.split('.').length <= 8 && p.split('.').every((s) => segment.test(s)), {
      message:
        'a dotted path of at most 8 argument names (letters, digits, _, $ and -), e.g. "amount" or "order.total"',
    }),
  limit,
  per_caller: z.record(callerKey, limit).default({}),
  mode: z.enum(['enforced', 'log_only']).default('enforced'),
  /** The tools it covers; absent: every tool that declares the argument, or may take it. */
  tools: z.array(z.string().min(1).max(128)).max(1000).optional(),
});
export type SpendingLimitSettings = z.output<typeof SpendingLimitSettings>;

/** The caller's limit: the lowest of the per-caller entries naming them, else the server's. */
interface SpendingFacet {
  readonly limit: number;
  readonly who: string | undefined;
}

function facet(caller: RuleCaller, s: SpendingLimitSettings): SpendingFacet {
  const names = [
    caller.keyId !== undefined ? `key:${caller.keyId}` : undefined,
    caller.person !== undefined ? `person:${caller.person}` : undefined,
    caller.subject !== undefined ? `subject:${caller.subject}` : undefined,
  ];
  let found: SpendingFacet | undefined;
  for (const name of names) {
    if (name === undefined || !Object.hasOwn(s.per_caller, name)) continue;
    const l = s.per_caller[name]!;
    if (found === undefined || l < found.limit) found = { limit: l, who: name };
  }
  return found ?? { limit: s.limit, who: undefined };
}

const properties = (tool: RuleTool): Record<string, unknown> | undefined => {
  const schema = tool.inputSchema as { properties?: unknown } | null | undefined;
  return schema?.properties !== null && typeof schema?.properties === 'object'
    ? (schema.properties as Record<string, unknown>)
    : undefined;
};

/** Whether the tool's schema names the argument's first name. */
const declares = (tool: RuleTool, s: SpendingLimitSettings) =>
  Object.hasOwn(properties(tool) ?? {}, s.argument.split('.')[0]!);

/** Whether the tool may take arguments its schema does not name. */
const takesAny = (tool: RuleTool) =>
  (tool.inputSchema as { additionalProperties?: unknown } | null | undefined)?.additionalProperties !== false;

function appliesTo(tool: RuleTool, s: SpendingLimitSettings): boolean {
  if (s.tools !== undefined) return s.tools.includes(tool.name);
  return declares(tool, s) || takesAny(tool);
}

/** The value at a dotted path: absent (no such argument), or what is there (`through`: a non-object on the way). */
function valueAt(args: Readonly<Record<string, unknown>>, path: string): { value: unknown } | 'absent' | 'through' {
  let at: unknown = args;
  for (const name of path.split('.')) {
    if (at === null || typeof at !== 'object' || Array.isArray(at)) return 'through';
    if (!Object.hasOwn(at, name)) return 'absent';
    at = (at as Record<string, unknown>)[name];
  }
  return { value: at };
}

/** Why the argument is not a value the limit can judge; undefined: it is a number the limit reads. */
function unreadable(found: ReturnType<typeof valueAt>, argument: string): string | undefined {
  if (found === 'absent') return `the argument "${argument}" is missing: the spending limit needs it`;
  if (found === 'through') return `the argument "${argument}" is not inside an object: the spending limit needs it`;
  if (typeof found.value !== 'number')
    return `the argument "${argument}" must be a JSON number (got ${found.value === null ? 'null' : typeof found.value})`;
  return undefined;
}

function check({
  args,
  tool,
  settings: s,
  facet: f,
}: {
  args: Readonly<Record<string, unknown>>;
  tool: RuleTool;
  settings: SpendingLimitSettings;
  facet: SpendingFacet;
}): RuleDecision {
  const found = valueAt(args, s.argument);
  // A tool that does not declare the argument is judged only when the call sends it.
  if (found === 'absent' && s.tools === undefined && !declares(tool, s)) return undefined;
  const why = unreadable(found, s.argument);
  const amount = why === undefined ? Math.abs((found as { value: number }).value) : undefined;
  if (amount !== undefined && amount <= f.limit) return undefined;
  const over =
    why ??
    `the argument "${s.argument}" (${(found as { value: number }).value}) is over the spending limit of ${f.limit}`;
  const refusal = {
    code: why === undefined ? 'spending_limit.exceeded' : 'spending_limit.unreadable',
    message:
      `${over[0]!.toUpperCase()}${over.slice(1)} on tool "${tool.name}": the call was not made, nothing was sent. ` +
      (why === undefined
        ? `A call of at most ${f.limit} may go through; a larger one needs a caller whose limit allows it.`
        : `Send "${s.argument}" as a plain JSON number of at most ${f.limit}.`),
  };
  return s.mode === 'log_only' ? { wouldRefuse: refusal } : { refuse: refusal };
}

/** What a change of the settings loosens: the limit or a caller's raised or dropped, log-only, fewer tools covered. */
function loosened(prev: SpendingLimitSettings | undefined, next: SpendingLimitSettings | undefined): string[] {
  if (!prev) return [];
  if (!next) return ['(removed)'];
  const out: string[] = [];
  if (next.limit > prev.limit) out.push('limit');
  if (next.argument !== prev.argument) out.push('argument');
  if (prev.mode === 'enforced' && next.mode === 'log_only') out.push('mode');
  for (const [who, l] of Object.entries(next.per_caller))
    if (l > (Object.hasOwn(prev.per_caller, who) ? prev.per_caller[who]! : prev.limit)) out.push(`per_caller.${who}`);
  for (const [who, l] of Object.entries(prev.per_caller))
    if (!Object.hasOwn(next.per_caller, who) && next.limit > l) out.push(`per_caller.${who}`);
  const covered = (t: string) => next.tools === undefined || next.tools.includes(t);
  if (prev.tools === undefined ? next.tools !== undefined : !prev.tools.every(covered)) out.push('tools');
  return out;
}

export const spendingLimit = portableRule<SpendingLimitSettings, SpendingFacet>({
  name: 'spending-limit',
  settings: SpendingLimitSettings,
  appliesTo,
  facet,
  check,
  loosened,
});
