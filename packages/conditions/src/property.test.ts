import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  compileCondition,
  conditionLimits,
  evaluate,
  explain,
  type Condition,
  type ConditionActivation,
  type ConditionSession,
} from './index.ts';

// Properties: evaluate never throws and gives a boolean, whatever the arguments and the session (random
// JSON, and values no JSON has), and explain agrees with it; a session of another shape grants nothing;
// compileCondition never throws on any text.

const texts = [
  'tool.name == "refund" && args.amount <= 100 && caller.key_name.startsWith("support-")',
  '!has(args.amount) || args.amount <= 100',
  'args.items.all(i, i.qty < 10 && i.sku.startsWith("A"))',
  'args.items.exists(i, i in [1, "a", true, null])',
  'args.items.map(i, i.sku).filter(s, s.startsWith("x")).size() > 0',
  'args.m.exists(k, k.startsWith("a") && args.m[k] == 1)',
  'args.text.matches("^(a+)+$") || args.text.lowerAscii().endsWith("z")',
  '"gold" in caller.claims.tiers || caller.claims.tier == "gold"',
  'args[args.key] == args.value',
  'args.a == args.b || size(args) > 3',
  'args.n * 2.0 > 3.5 && int(args.n) % 2 == 0',
  'cel.bind(t, args.tags, t.size() > 1 && t[0] == "x")',
  'tool.annotations.readOnlyHint == true || tool.server_name == "prod"',
  'string(args.n) == "1" && double(args.s) > 1.0',
  '"private" in session.labels || session.calls.exists(c, c.tool == "a" && c.since_seconds < 600)',
  '!session.labels.exists(l, l == "untrusted") && size(session.tools_called) <= 3',
  'session.calls.all(c, c.count != 2 && c.first_at <= c.last_at && c.server_id.startsWith("s"))',
];

/** The conditions that read the session, each also negated: a session of another shape makes each false. */
const sessionConditions: Condition[] = texts
  .filter((t) => t.includes('session.'))
  .flatMap((t) => [t, `!(${t})`])
  .map((t) => {
    const r = compileCondition(t);
    if (!r.ok) throw new Error(`${t}: ${JSON.stringify(r.problems)}`);
    return r.condition;
  });

const conditions: Condition[] = texts.map((t) => {
  const r = compileCondition(t);
  if (!r.ok) throw new Error(`${t}: ${JSON.stringify(r.problems)}`);
  return r.condition;
});

const keys = fc.constantFrom(
  'amount',
  'items',
  'qty',
  'sku',
  'm',
  'text',
  'key',
  'value',
  'a',
  'b',
  'n',
  's',
  'tags',
  'x',
);
const json = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, -0, 1, 100, 100.5, -1e308, 'a', 'A-1', 'aaaa', ''),
    fc.double(),
    fc.string(),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(keys, tie('value'), { maxKeys: 5 }),
  ),
}));
const args = fc.dictionary(keys, json.value, { maxKeys: 8 });
const count = fc.nat();
const sessionCall = fc.record({
  tool: fc.constantFrom('a', 'b', 'get_issue', ''),
  server_id: fc.constantFrom('s', 's-2', 'x'),
  count,
  first_at: count,
  last_at: count,
  since_seconds: count,
});
/** Sessions of the right shape, within the bounds. */
const session: fc.Arbitrary<ConditionSession> = fc.record({
  labels: fc.uniqueArray(fc.constantFrom('private', 'untrusted'), { maxLength: conditionLimits.maxSessionLabels }),
  tools_called: fc.array(fc.constantFrom('a', 'b', 'get_issue'), { maxLength: 5 }),
  calls: fc.array(sessionCall, { maxLength: 5 }),
});
/** Values of another type than a session's field has: for a string, for a count, for a list of strings, for a session. */
const notString = fc.oneof(
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 2 }),
  fc.dictionary(keys, fc.string(), { maxKeys: 2 }),
);
const notCount = fc.oneof(
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(1e308, -1, 0.5, Number.NaN, Infinity, Number.MAX_SAFE_INTEGER + 2, '3'),
  fc.double().filter((d) => !(Number.isSafeInteger(d) && d >= 0)),
);
const notStrings = fc.oneof(
  notString.filter((v) => !Array.isArray(v)),
  fc.array(notString, { minLength: 1, maxLength: 3 }),
);
const notSession = fc.oneof(fc.constant(null), fc.string(), fc.double(), fc.array(json.value, { maxLength: 3 }));
const callFields = ['tool', 'server_id', 'count', 'first_at', 'last_at', 'since_seconds'] as const;

/** A session with one thing of another type (a label, a tool name, a call's field, a call, a field, the whole). */
const lyingSession: fc.Arbitrary<unknown> = fc.oneof(
  fc.tuple(session, notStrings).map(([s, v]) => ({ ...s, labels: v })),
  fc.tuple(session, notStrings).map(([s, v]) => ({ ...s, tools_called: v })),
  fc.tuple(session, sessionCall, fc.constantFrom(...callFields), notString, notCount).map(([s, c, field, str, n]) => ({
    ...s,
    calls: [...s.calls, { ...c, [field]: field === 'tool' || field === 'server_id' ? str : n }],
  })),
  fc.tuple(session, notSession).map(([s, v]) => ({ ...s, calls: [v] })),
  fc.tuple(session, json.value).map(([s, v]) => ({ ...s, extra: v })),
  notSession,
);

/** Values no JSON document has: what a caller of the library could still pass by mistake. */
const exotic = fc.anything({
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withTypedArray: true,
  withSparseArray: true,
  withBoxedValues: true,
  withObjectString: true,
  maxDepth: 3,
});

function check(activation: unknown) {
  for (const c of conditions) {
    const value = evaluate(c, activation as ConditionActivation);
    expect(typeof value).toBe('boolean');
    expect(explain(c, activation as ConditionActivation).value).toBe(value);
  }
}

describe('evaluate never throws', () => {
  it('on random JSON arguments and claims', () => {
    fc.assert(
      fc.property(args, json.value, (a, claims) => {
        check({
          caller: { key_name: 'support-x', claims },
          tool: { name: 'refund', server_id: 's', annotations: claims },
          args: a,
        });
      }),
      { numRuns: 400 },
    );
  });

  it('on values no JSON has, and on activations of the wrong shape', () => {
    fc.assert(
      fc.property(exotic, exotic, (a, b) => {
        check({ caller: b, tool: { name: 'refund', server_id: 's' }, args: a });
        check({ caller: {}, tool: b, args: { items: a, text: b, m: a } });
        check({ caller: {}, tool: { name: 'refund', server_id: 's' }, args: {}, session: a });
        check({ caller: {}, tool: b, args: {}, session: { labels: a, tools_called: b, calls: [a, b] } });
        check(a);
      }),
      { numRuns: 300 },
    );
    for (const odd of [undefined, null, 0, 'x', [], { args: null }, { args: [1] }]) check(odd);
  });
});

describe('the session', () => {
  it('of the right shape: evaluate gives a boolean, explain agrees', () => {
    fc.assert(
      fc.property(args, session, (a, s) => {
        check({ caller: { key_name: 'support-x' }, tool: { name: 'refund', server_id: 's' }, args: a, session: s });
      }),
      { numRuns: 300 },
    );
  });

  it('of another shape: every condition reading it is false, and its negation too', () => {
    fc.assert(
      fc.property(lyingSession, (s) => {
        const activation = { caller: {}, tool: { name: 'refund', server_id: 's' }, args: {}, session: s };
        for (const c of sessionConditions) {
          expect(evaluate(c, activation as ConditionActivation)).toBe(false);
          expect(explain(c, activation as ConditionActivation).value).toBe(false);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('compileCondition never throws', () => {
  const token = fc.constantFrom(
    'args',
    'caller',
    'tool',
    '.',
    'amount',
    'name',
    '(',
    ')',
    '[',
    ']',
    '{',
    '}',
    ',',
    ':',
    '"a"',
    "'b'",
    '1',
    '2.5',
    '==',
    '<=',
    '&&',
    '||',
    '!',
    '?',
    'in',
    'all',
    'exists',
    'map',
    'has',
    'matches',
    'x',
    ' ',
    '\n',
    '-',
    '+',
    'cel',
    'bind',
    'r"\\d"',
    'b"x"',
    '//c\n',
    'size',
  );
  it('on random text and random token sequences', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 80 }),
          fc.array(token, { maxLength: 30 }).map((t) => t.join('')),
        ),
        (text) => {
          const r = compileCondition(text);
          if (r.ok)
            expect(typeof evaluate(r.condition, { caller: {}, tool: { name: 't', server_id: 's' }, args: {} })).toBe(
              'boolean',
            );
          else expect(r.problems.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 1500 },
    );
  });
});
