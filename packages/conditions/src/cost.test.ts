import { describe, expect, it } from '@jest/globals';
import { compileCondition, conditionLimits, evaluate, explain, type Condition, type JsonSchema } from './index.ts';

// Bounded cost (ADR 0035): what cannot be bounded is refused when compiled; data over the sizes a
// condition was estimated with make it false before it runs. Times are asserted loosely (a shared
// 2-core VM); what they catch is the unbounded case, which takes seconds to forever.

function compiled(text: string, inputSchema?: JsonSchema): Condition {
  const r = compileCondition(text, { inputSchema });
  if (!r.ok) throw new Error(`${text}: ${JSON.stringify(r.problems)}`);
  return r.condition;
}

function refused(text: string, inputSchema?: JsonSchema): string {
  const r = compileCondition(text, { inputSchema });
  if (r.ok) throw new Error(`expected ${text} to be refused (cost ${r.condition.cost})`);
  return r.problems.map((p) => p.message).join('\n');
}

const tool = { name: 'bulk_refund', server_id: 's' };
const run = (c: Condition, args: Record<string, unknown>, caller = {}) => evaluate(c, { caller, tool, args });

/** Milliseconds of the slowest of a few runs. */
function slowest(f: () => void, times = 3): number {
  let worst = 0;
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    f();
    worst = Math.max(worst, performance.now() - t);
  }
  return worst;
}

describe('refused when compiled', () => {
  it('a nested comprehension over two argument lists (a million steps)', () => {
    const message = refused('args.orders.all(o, args.refunds.exists(r, r.order == o.id))');
    expect(message).toContain(`more than the budget of ${conditionLimits.costBudget}`);
    expect(message).toContain('nested comprehensions');
  });

  it('unless the input schema bounds the lists (maxItems)', () => {
    const schema: JsonSchema = {
      type: 'object',
      properties: {
        orders: { type: 'array', maxItems: 20, items: { type: 'object', properties: { id: { type: 'string' } } } },
        refunds: { type: 'array', maxItems: 20, items: { type: 'object', properties: { order: { type: 'string' } } } },
      },
    };
    const c = compiled('args.orders.all(o, args.refunds.exists(r, r.order == o.id))', schema);
    const orders = Array.from({ length: 20 }, (_, i) => ({ id: `o${i}` }));
    expect(run(c, { orders, refunds: orders.map((o) => ({ order: o.id })) })).toBe(true);
    // The edge checks the schema first; the condition checks its own limits again.
    expect(run(c, { orders: [...orders, { id: 'o20' }], refunds: orders.map((o) => ({ order: o.id })) })).toBe(false);
  });

  it('a search or comprehension over a list whose size it cannot trace', () => {
    expect(refused('(args.a + args.b).items.all(i, i > 0)')).toContain('cannot bound the cost of all() over');
    // A value passed through dyn(), a ternary or cel.bind is still traced to its argument.
    compiled('cel.bind(l, true ? dyn(args.items) : [], l.all(i, i > 0))');
  });

  it('matches on a string inside a comprehension over a list of 1,000', () => {
    expect(refused('args.emails.all(e, e.matches("^[a-z]+@example\\\\.com$"))')).toContain('budget');
    compiled('args.emails.all(e, e.endsWith("@example.com"))');
  });

  it('a nested comprehension over the session (its lists are bounded: 200 calls, 200 tool names, 2 labels)', () => {
    const message = refused('session.calls.exists(c, session.tools_called.exists(t, t == c.tool))');
    expect(message).toContain(`more than the budget of ${conditionLimits.costBudget}`);
    expect(message).toContain('nested comprehensions');
    // Over the labels it is cheap, and so is one pass over the calls reading their strings.
    const c = compiled(
      'session.labels.exists(l, session.calls.exists(c, c.tool.startsWith(l) && c.server_id.contains("gh")))',
    );
    expect(c.cost).toBeLessThanOrEqual(conditionLimits.costBudget);
    expect(compiled('session.tools_called.exists(t, t.startsWith("get_"))').cost).toBeLessThanOrEqual(
      conditionLimits.costBudget,
    );
    // matches() on each of 200 tool names of up to 128 characters is over it, as on an argument list.
    expect(refused('session.calls.all(c, c.tool.matches("^get_[a-z_]+$"))')).toContain('budget');
  });

  it('literals and text over the parser limits', () => {
    const list = `[${Array.from({ length: 65 }, (_, i) => i).join(', ')}]`;
    expect(refused(`args.n in ${list}`)).toContain('too large');
    const deep = `${'('.repeat(40)}args.a == 1${')'.repeat(40)}`;
    expect(refused(deep)).toContain('too large');
  });
});

describe('bounded when evaluated', () => {
  it('a huge list in args with .all(...): false at once, not iterated', () => {
    const c = compiled('args.items.all(i, i.qty < 10)');
    const items = Array.from({ length: 1_000_000 }, () => ({ qty: 1 }));
    let result = true;
    expect(slowest(() => (result = run(c, { items })))).toBeLessThan(50);
    expect(result).toBe(false);
    expect(explain(c, { caller: {}, tool, args: { items } }).reason).toBe(
      'args.items has 1000000 elements, more than the 1000 this condition iterates',
    );
    expect(run(c, { items: items.slice(0, 1000) })).toBe(true);
  });

  it('at the limits, the condition costs about what was estimated', () => {
    const c = compiled('args.items.all(i, i.qty < 10 && i.sku.startsWith("A-"))');
    expect(c.cost).toBeLessThanOrEqual(conditionLimits.costBudget);
    const items = Array.from({ length: 1000 }, (_, i) => ({ qty: i % 10, sku: `A-${i}` }));
    expect(run(c, { items })).toBe(true);
    expect(slowest(() => run(c, { items }))).toBeLessThan(100);
  });

  it('a backtracking pattern runs in linear time (RE2), on at most maxMatchLength characters', () => {
    const c = compiled('args.text.matches("^(a+)+$")');
    const evil = `${'a'.repeat(conditionLimits.maxMatchLength - 1)}b`;
    let result = true;
    // JavaScript's RegExp takes longer than the age of the universe on this input.
    expect(slowest(() => (result = run(c, { text: evil })))).toBeLessThan(200);
    expect(result).toBe(false);
    expect(run(c, { text: 'aaaa' })).toBe(true);
    expect(run(c, { text: 'a'.repeat(conditionLimits.maxMatchLength + 1) })).toBe(false);
  });

  it('an element by index and every element are checked apart', () => {
    const c = compiled('args.a[0].contains("x") && args.a.exists(s, s.size() > 0)');
    expect(run(c, { a: ['x', 'y'] })).toBe(true);
    expect(run(c, { a: ['x', 'y'.repeat(conditionLimits.maxStringLength + 1)] })).toBe(true); // size() reads no characters
    expect(run(c, { a: [`x${'y'.repeat(conditionLimits.maxStringLength)}`] })).toBe(false);
  });

  it('strings a condition reads are bounded', () => {
    const c = compiled('args.note.contains("urgent")');
    expect(run(c, { note: 'this is urgent' })).toBe(true);
    expect(run(c, { note: `${'x'.repeat(conditionLimits.maxStringLength)} urgent` })).toBe(false);
  });

  it('structures compared with each other are bounded', () => {
    const c = compiled('args.a == args.b');
    expect(run(c, { a: { x: [1, 2] }, b: { x: [1, 2] } })).toBe(true);
    const big = { x: Array.from({ length: 100 }, (_, i) => i) };
    expect(run(c, { a: big, b: structuredClone(big) })).toBe(false);
    expect(run(c, { a: 'same', b: 'same' })).toBe(true);
  });

  it('the session at its bounds is evaluated; over them, the condition is false before it runs', () => {
    const c = compiled('session.calls.all(c, c.tool.startsWith("t") && c.since_seconds < 600)');
    expect(c.cost).toBeLessThanOrEqual(conditionLimits.costBudget);
    const max = conditionLimits.maxSessionCalls;
    const calls = Array.from({ length: max }, (_, i) => ({
      tool: `t${'x'.repeat(conditionLimits.maxSessionNameLength - 4)}${String(i).padStart(3, '0')}`,
      server_id: 's'.repeat(conditionLimits.maxSessionNameLength),
      count: Number.MAX_SAFE_INTEGER,
      first_at: 0,
      last_at: 1,
      since_seconds: 1,
    }));
    const session = { labels: ['private', 'untrusted'], tools_called: calls.map((x) => x.tool), calls };
    const at = (s: unknown) => ({ caller: {}, tool, args: {}, session: s }) as Parameters<typeof evaluate>[1];
    expect(evaluate(c, at(session))).toBe(true);
    const over = { ...session, calls: [...calls, calls[0]!] };
    expect(evaluate(c, at(over))).toBe(false);
    expect(explain(c, at(over)).reason).toBe(
      `session.calls is not a list of at most ${max} calls (tool, server_id, count, first_at, last_at, since_seconds)`,
    );
  });

  it('deep, cyclic or exotic data make it false, without throwing', () => {
    const c = compiled('args.a.a.a == 1 || args.self == args');
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 100_000; i++) deep = deep.a = {};
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(run(c, root)).toBe(false);
    expect(run(c, cyclic)).toBe(false);
    const throwing = Object.defineProperty({}, 'a', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    expect(run(c, throwing)).toBe(false);
    const proxy = new Proxy(
      {},
      {
        get: () => {
          throw new Error('trap');
        },
        ownKeys: () => {
          throw new Error('trap');
        },
      },
    );
    expect(run(compiled('args.items.exists(i, i == 1)'), proxy)).toBe(false);
    expect(run(compiled('args.items.exists(i, i == 1)'), { items: proxy })).toBe(false);
  });
});
