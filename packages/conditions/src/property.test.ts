import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { compileCondition, evaluate, explain, type Condition, type ConditionActivation } from './index.ts';

// Properties: evaluate never throws and gives a boolean, whatever the arguments (random JSON, and values
// no JSON has), and explain agrees with it; compileCondition never throws on any text.

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
];

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
        check(a);
      }),
      { numRuns: 300 },
    );
    for (const odd of [undefined, null, 0, 'x', [], { args: null }, { args: [1] }]) check(odd);
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
