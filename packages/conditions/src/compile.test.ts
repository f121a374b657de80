import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import {
  compileCondition,
  conditionLimits,
  type CompileOptions,
  type CompileResult,
  type JsonSchema,
  type Problem,
  usesSession,
} from './index.ts';

// compileCondition: what a policy's condition is checked for when saved (ADR 0036).

const refundSchema: JsonSchema = {
  type: 'object',
  properties: {
    amount: { type: 'number' },
    currency: { type: 'string', enum: ['EUR', 'USD'] },
    reason: { type: 'string' },
    customer: { type: 'object', properties: { id: { type: 'string' }, tier: { type: 'string' } } },
    items: { type: 'array', items: { $ref: '#/$defs/item' } },
    urgent: { type: 'boolean' },
  },
  required: ['amount'],
  $defs: { item: { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer' } } } },
};

function problemsOf(text: string, inputSchema?: JsonSchema): Problem[] {
  const options: CompileOptions = { inputSchema };
  const r: CompileResult = compileCondition(text, options);
  if (r.ok) throw new Error(`expected problems for ${text}`);
  return r.problems;
}

function accepts(text: string, inputSchema?: JsonSchema) {
  const r = compileCondition(text, { inputSchema });
  if (!r.ok) throw new Error(`${text}: ${JSON.stringify(r.problems)}`);
  return r.condition;
}

describe('syntax', () => {
  it.each([
    ['tool.name == ', 13, 'Unexpected token'],
    ['tool.name == "refund" &&& args.amount < 1', 24, 'Unexpected character'],
    ['args.amount <= (100', 19, 'Expected'],
    ['tool.name == "unterminated', 13, ''],
  ])('%s: a problem with its position', (text, start, words) => {
    const [p, ...rest] = problemsOf(text);
    expect(rest).toEqual([]);
    expect(p!.position?.start).toBe(start);
    expect(p!.position?.line).toBe(1);
    expect(p!.position?.column).toBe(start + 1);
    expect(p!.message).toContain(words);
    expect(p!.message).toContain(`column ${start + 1}`);
  });

  it('counts lines and columns in a text of several lines', () => {
    const [p] = problemsOf('tool.name == "refund" &&\n  args.amount <= 100 &&\n  ]');
    expect(p!.position).toMatchObject({ line: 3, column: 3 });
  });

  it('refuses an empty condition and one over the size limits', () => {
    expect(problemsOf('  ')[0]!.message).toBe('the condition is empty');
    const long = Array.from({ length: 200 }, (_, i) => `args.a${i} == ${i}`).join(' || ');
    expect(long.length).toBeGreaterThan(conditionLimits.maxTextLength);
    expect(problemsOf(long)[0]!.message).toContain(`longer than ${conditionLimits.maxTextLength} characters`);
    const many = Array.from({ length: 60 }, (_, i) => `args.a == ${i}`).join(' || ');
    expect(many.length).toBeLessThan(conditionLimits.maxTextLength);
    expect(problemsOf(many)[0]!.message).toContain('too large');
  });
});

describe('names', () => {
  it('allows caller, tool, args and session only', () => {
    const p = problemsOf('user.tier == "gold" && request.ip == "1.2.3.4"');
    expect(p.map((x) => x.path)).toEqual(['user', 'request']);
    expect(p[0]!.message).toContain('unknown name "user": a condition can use caller, tool, args and session');
    expect(p[1]!.position).toMatchObject({ start: 23, column: 24 });
  });

  it('knows the fields of caller and tool', () => {
    const p = problemsOf('caller.key == "k" || tool.nmae == "x"');
    expect(p.map((x) => x.path)).toEqual(['caller.key', 'tool.nmae']);
    expect(p[0]!.message).toContain('caller has no field "key" (it has key_id, key_name, subject, claims, user)');
    expect(p[1]!.message).toContain('tool has no field "nmae" (it has name, server_id, server_name, annotations)');
    accepts('caller.key_id == "k" && caller.subject == "s" && caller.user == "u" && tool.server_id == "s"');
    accepts('caller.claims.tier == "gold" && tool.annotations.readOnlyHint == true');
  });

  it('binds comprehension and cel.bind variables in their scope only', () => {
    accepts('args.items.all(i, i.qty < 10) && cel.bind(t, caller.claims.tier, t == "gold" || t == "silver")');
    expect(problemsOf('args.items.all(i, i.qty < 10) && i.qty > 0').map((p) => p.path)).toEqual(['i']);
  });

  it('takes one variable in a comprehension (the library has no two-variable forms)', () => {
    const [p] = problemsOf('args.m.exists(k, v, v == 1)');
    expect(p!.message).toContain('exists() takes a variable and an expression');
    accepts('args.items.map(i, i.qty > 1, i.sku).exists(s, s == "A")');
  });

  it('allows a fixed set of functions', () => {
    const [p] = problemsOf('args.reason.split(",").size() > 2');
    expect(p!.path).toBe('split');
    expect(p!.message).toContain('unknown function split(): a condition can use all, bool, cel.bind, contains');
    expect(problemsOf('timestamp("2026-01-01T00:00:00Z") < timestamp("2027-01-01T00:00:00Z")')[0]!.path).toBe(
      'timestamp',
    );
    accepts(
      'size(args.reason) < 100 && args.reason.lowerAscii().contains("fraud") == false && ' +
        'args.reason.trim().endsWith(".") && int(args.amount) < 5 && string(args.amount) != ""',
    );
  });
});

describe('session', () => {
  const examples = [
    'session.labels.exists(l, l == "private")',
    '"create_gist" in session.tools_called',
    'session.calls.exists(c, c.tool == "get_issue" && c.since_seconds < 600)',
    'size(session.tools_called) > 3',
    '!("untrusted" in session.labels) && session.calls.all(c, c.count <= 10 && c.server_id != "")',
    'has(session.calls) && session.calls.exists(c, c.first_at < c.last_at && double(c.count) * 2.0 > 3.0)',
  ];

  it.each(examples)('%s: type-checks, reads the session, within the budget', (text) => {
    const c = accepts(text, refundSchema);
    expect(c.cost).toBeLessThanOrEqual(conditionLimits.costBudget);
    expect(usesSession(c)).toBe(true);
  });

  it('names a misspelt field of session and of its calls, listing the fields', () => {
    const p = problemsOf('size(session.lables) > 0 || session.calls.exists(c, c.tol == "x")');
    expect(p.map((x) => x.path)).toEqual(['session.lables', 'session.calls[*].tol']);
    expect(p[0]!.message).toBe('session has no field "lables" (it has labels, tools_called, calls) (line 1, column 6)');
    expect(p[1]!.message).toContain(
      'session.calls[*] has no field "tol" (it has count, first_at, last_at, server_id, since_seconds, tool)',
    );
    expect(problemsOf('session["tools"] == []')[0]!.path).toBe('session.tools');
  });

  it('types its fields: labels and tool names are strings, counts numbers', () => {
    expect(problemsOf('session.labels.exists(l, l == 1)')[0]!.message).toContain('no such overload');
    expect(problemsOf('session.tools_called.exists(t, t.startsWith(1))')[0]!.message).toContain('no matching overload');
    expect(problemsOf('session.calls.exists(c, c.count == "3")')[0]!.message).toContain(
      'session.calls[*].count is a number, compared with a string ("3")',
    );
    expect(problemsOf('session.calls.exists(c, c.count + 1 > 2)')[0]!.message).toContain(
      'session.calls[*].count is a number (a CEL double)',
    );
    expect(problemsOf('session.labels')[0]!.message).toContain('must be true or false; this one is a list');
  });

  it('usesSession: exact for a compiled condition, never false for a text that reads it', () => {
    const plain = compileCondition('tool.name == "refund" && args.amount <= 100');
    expect(usesSession(plain)).toBe(false);
    expect(plain.ok && usesSession(plain.condition)).toBe(false);
    expect(usesSession(compileCondition('session.labels.exists(l, l == "private")'))).toBe(true);
    // A condition that does not compile is never true: nothing to read.
    expect(usesSession(compileCondition('session.lables.size() > 0'))).toBe(false);
    // A field or a variable named so is not the session; the text alone cannot tell, so it answers true.
    expect(usesSession(compileCondition('args.session == "x" && args.items.all(session, session > 0)'))).toBe(false);
    expect(usesSession('args.session == "x"')).toBe(true);
    expect(usesSession('size(session.tools_called) > 3')).toBe(true);
    expect(usesSession('caller.user == "ann" && args.sessions > 1')).toBe(false);
  });
});

describe('arguments against the input schema', () => {
  it('names an unknown argument and lists the known ones (dot and bracket forms, every one)', () => {
    const p = problemsOf('args.amonut <= 100 && args["curency"] == "EUR" && has(args.reson)', refundSchema);
    expect(p.map((x) => x.path)).toEqual(['args.amonut', 'args.curency', 'args.reson']);
    expect(p[0]!.message).toBe(
      'unknown argument "amonut": the tool\'s input schema has the arguments amount, currency, customer, items, reason, urgent (line 1, column 1)',
    );
    expect(p[1]!.position).toMatchObject({ start: 22, end: 37 });
  });

  it('checks nested properties and list elements, through $ref', () => {
    const p = problemsOf('args.customer.teir == "gold" || args.items.exists(i, i.quantity > 5)', refundSchema);
    expect(p.map((x) => x.path)).toEqual(['args.customer.teir', 'args.items[*].quantity']);
    expect(p[0]!.message).toContain(
      'unknown property "teir" of args.customer: the tool\'s input schema declares id, tier',
    );
    expect(p[1]!.message).toContain(
      'unknown property "quantity" of args.items[*]: the tool\'s input schema declares qty, sku',
    );
    accepts(
      'args.customer.tier == "gold" && args.items.exists(i, i.qty > 5) && args.items[0].sku == "A"',
      refundSchema,
    );
  });

  it('lets an open schema (additionalProperties) or no schema name anything', () => {
    accepts('args.anything == 1');
    accepts('args.extra == 1', { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: true });
    accepts('args.b == 1', { type: 'object' });
  });

  it('reads allOf, anyOf and oneOf branches as declaring their properties', () => {
    const schema: JsonSchema = {
      allOf: [{ type: 'object', properties: { a: { type: 'string' } } }, { properties: { b: { type: 'number' } } }],
      anyOf: [{ properties: { c: { type: 'string' } } }, { properties: { d: { type: 'string' } } }],
    };
    accepts('args.a == "x" && args.b > 1 && args.c == "y" && args.d == "z"', schema);
    expect(problemsOf('args.e == 1', schema)[0]!.message).toContain('has the arguments a, b, c, d');
  });
});

describe('types where cheap', () => {
  it('refuses comparing a string argument with a number, and a number with a string', () => {
    const p = problemsOf('args.reason > 3 || args.amount == "100" || args.currency in [1, 2]', refundSchema);
    expect(p.map((x) => x.path)).toEqual(['args.reason', 'args.amount', 'args.currency']);
    expect(p[0]!.message).toContain("args.reason is a string in the tool's input schema, compared with a number (3)");
    expect(p[1]!.message).toContain(
      'args.amount is a number in the tool\'s input schema, compared with a string ("100")',
    );
  });

  it('accepts numbers against ints and doubles (JSON numbers are CEL doubles; comparisons mix them)', () => {
    accepts(
      'args.amount <= 100 && args.amount == 20 && args.amount in [10, 20.5] && args.amount * 2.0 < 300.0',
      refundSchema,
    );
  });

  it('refuses int literals in arithmetic with a number argument, with the fix', () => {
    const [p] = problemsOf('args.amount + 10 <= 100', refundSchema);
    expect(p!.message).toContain('write the literal with a decimal point (2.0, not 2), or convert with int(…)');
  });

  it("uses the library's checker for the rest", () => {
    expect(problemsOf('args.reason.startsWith(1)', refundSchema)[0]!.message).toContain(
      "found no matching overload for 'string.startsWith(int)'",
    );
    expect(problemsOf('args.reason == null', refundSchema)[0]!.message).toContain('has(args.x)');
    expect(problemsOf('args.urgent && args.customer.tier + 1 > 2', refundSchema)[0]!.message).toContain(
      'no such overload',
    );
  });

  it('wants true or false', () => {
    expect(problemsOf('args.amount * 2.0', refundSchema)[0]!.message).toContain(
      'must be true or false; this one is a number',
    );
    expect(problemsOf('"yes"')[0]!.message).toContain('must be true or false; this one is a string');
    accepts('args.urgent', refundSchema);
    accepts('args.flag');
  });
});

describe('matches', () => {
  it('takes a literal RE2 pattern, checked when compiled', () => {
    accepts('args.reason.matches("^(?i)refund: [a-z0-9-]+$")', refundSchema);
    expect(problemsOf('args.reason.matches(args.currency)', refundSchema)[0]!.message).toContain(
      'the pattern of matches() must be a string literal',
    );
    const [p] = problemsOf('args.reason.matches("(unclosed")', refundSchema);
    expect(p!.message).toContain('invalid pattern for matches() (RE2 syntax)');
    expect(p!.position?.start).toBe(20);
    expect(problemsOf('args.reason.matches("a\\\\1")', refundSchema)[0]!.message).toContain('invalid pattern');
    expect(problemsOf(`args.reason.matches("${'a'.repeat(200)}")`)[0]!.message).toContain('longer than 128');
  });
});

describe('the compiled condition', () => {
  it('keeps its text and its worst-case cost', () => {
    const c = accepts('tool.name == "refund" && args.amount <= 100 && caller.key_name.startsWith("support-")');
    expect(c.text).toBe('tool.name == "refund" && args.amount <= 100 && caller.key_name.startsWith("support-")');
    expect(c.cost).toBeLessThan(50);
    expect(accepts('args.items.all(i, i.qty < 10)').cost).toBeGreaterThan(conditionLimits.maxListSize);
  });
});

describe('docs/governance.md', () => {
  it('every example in "Conditions" compiles', () => {
    const doc = readFileSync(new URL('../../../docs/governance.md', import.meta.url), 'utf8');
    const block = /```cel\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const examples = block
      .split(/\n\s*\n/)
      .map((chunk) =>
        chunk
          .split('\n')
          .filter((line) => !line.trim().startsWith('//'))
          .join('\n')
          .trim(),
      )
      .filter((text) => text !== '');
    expect(examples).toHaveLength(5);
    for (const text of examples) accepts(text);
  });
});
