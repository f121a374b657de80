import type { Arith, Bool, Seq } from 'z3-solver';
import { conditionLimits } from '@toolplane/conditions';
import { Undecided, type ListVar, type Scalar, type Sym } from './symbols.ts';
import type { Z3 } from './z3.ts';

type Schema = Readonly<Record<string, unknown>>;

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keywords of an argument's schema that say nothing the edge's check enforces on its value. */
const notes = new Set([
  'description',
  'title',
  'examples',
  'default',
  '$comment',
  'deprecated',
  'readOnly',
  'writeOnly',
]);
const scalarKeywords = new Set(['type', 'enum', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']);
const stringKeywords = new Set(['type', 'enum', 'minLength', 'maxLength']);
const listKeywords = new Set(['type', 'items', 'minItems', 'maxItems']);

/** One argument as the solver reads it: its variables (value, presence) and what the tool's input schema asks of it. */
export interface ArgumentVar {
  readonly name: string;
  readonly sym: Sym & { t: 'bool' | 'num' | 'str' | 'list' };
  readonly integer: boolean;
  readonly present: Bool<'reach'>;
  readonly constraints: Bool<'reach'>[];
}

function unmodelled(name: string, schema: Schema, allowed: ReadonlySet<string>): void {
  for (const k of Object.keys(schema))
    if (!allowed.has(k) && !notes.has(k)) throw new Undecided(`the schema of argument "${name}" uses "${k}"`);
}

const scalarOf = (type: unknown): (Scalar | 'int') | undefined =>
  type === 'boolean'
    ? 'bool'
    : type === 'string'
      ? 'str'
      : type === 'number'
        ? 'num'
        : type === 'integer'
          ? 'int'
          : undefined;

/** Numeric bounds of a number's schema. */
function bounds(z3: Z3, v: Arith<'reach'>, s: Schema): Bool<'reach'>[] {
  const out: Bool<'reach'>[] = [];
  const num = (k: string) => (typeof s[k] === 'number' ? z3.Real.val(String(s[k])) : undefined);
  const [min, max, xmin, xmax] = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].map(num);
  if (min) out.push(v.ge(min));
  if (max) out.push(v.le(max));
  if (xmin) out.push(v.gt(xmin));
  if (xmax) out.push(v.lt(xmax));
  return out;
}

function enumOf(z3: Z3, name: string, sym: Sym, s: Schema): Bool<'reach'>[] {
  if (!('enum' in s)) return [];
  if (!Array.isArray(s.enum)) throw new Undecided(`the enum of argument "${name}" is not a list`);
  const options = s.enum.map((e: unknown) => {
    if (sym.t === 'str' && typeof e === 'string') return sym.v.eq(z3.String.val(e));
    if (sym.t === 'num' && typeof e === 'number') return sym.v.eq(z3.Real.val(String(e)));
    if (sym.t === 'bool' && typeof e === 'boolean') return sym.v.eq(z3.Bool.val(e));
    return z3.Bool.val(false);
  });
  return [z3.Or(...options)];
}

function scalarVar(z3: Z3, { id, name }: { id: string; name: string }, s: Schema, kind: Scalar | 'int') {
  const present = z3.Bool.const(`${id}?`);
  if (kind === 'bool') {
    unmodelled(name, s, new Set(['type', 'enum']));
    const sym = { t: 'bool', v: z3.Bool.const(id), d: present } as const;
    return { sym, present, integer: false, constraints: enumOf(z3, name, sym, s) };
  }
  if (kind === 'str') {
    unmodelled(name, s, stringKeywords);
    const v = z3.String.const(id);
    const sym = { t: 'str', v, d: present } as const;
    // A string longer than a condition reads makes it false (conditionLimits): no call longer than that is let through.
    const len: Bool<'reach'>[] = [v.length().le(conditionLimits.maxStringLength)];
    if (typeof s.minLength === 'number') len.push(v.length().ge(s.minLength));
    if (typeof s.maxLength === 'number') len.push(v.length().le(s.maxLength));
    return { sym, present, integer: false, constraints: [...len, ...enumOf(z3, name, sym, s)] };
  }
  unmodelled(name, s, scalarKeywords);
  const integer = kind === 'int';
  const raw = integer ? z3.Int.const(id) : z3.Real.const(id);
  const v = integer ? z3.ToReal(raw) : raw;
  const sym = { t: 'num', v, d: present } as const;
  return { sym, present, integer, constraints: [...bounds(z3, v, s), ...enumOf(z3, name, sym, s)] };
}

/** A list of at most `bound` elements of one sort (`maxLength`: characters of a string element). */
export function listOf(
  z3: Z3,
  id: string,
  kind: Scalar,
  { bound, maxLength }: { bound: number; maxLength?: number },
): ListVar {
  return { id, kind, length: z3.Int.const(`${id}.length`), bound, maxLength, tests: [] };
}

/**
 * What makes a list exist for the answers its searches give (see `ListVar`): its length within its bound; a value
 * held or not alike wherever it is searched for; its distinct held values (each counted where first held) no more
 * than its length; a held string no longer than an element may be; and, for a list of booleans with elements, a value
 * that no search said it lacks.
 */
export function listConstraints(z3: Z3, l: ListVar): Bool<'reach'>[] {
  const out: Bool<'reach'>[] = [l.length.ge(0), l.length.le(l.bound)];
  const { tests } = l;
  const same = (i: number, j: number) => z3.Eq(tests[i]!.x, tests[j]!.x);
  const firsts = tests.map((t, i) =>
    z3.And(t.held, ...tests.slice(0, i).map((u, j) => z3.Not(z3.And(u.held, same(j, i))))),
  );
  for (let i = 0; i < tests.length; i++)
    for (let j = i + 1; j < tests.length; j++) out.push(z3.Implies(same(i, j), z3.Eq(tests[i]!.held, tests[j]!.held)));
  const [one, zero] = [z3.Int.val(1), z3.Int.val(0)];
  const counted = firsts.map((f) => z3.If(f, one, zero));
  if (counted.length > 0) out.push(z3.Sum(counted[0]!, ...counted.slice(1)).le(l.length));
  if (l.maxLength !== undefined)
    for (const t of tests) out.push(z3.Implies(t.held, (t.x as Seq<'reach'>).length().le(l.maxLength)));
  if (l.kind === 'bool') {
    const free = (v: boolean) =>
      z3.And(...tests.map((t) => z3.Not(z3.And(z3.Eq(t.x, z3.Bool.val(v)), z3.Not(t.held)))));
    out.push(z3.Implies(l.length.gt(0), z3.Or(free(true), free(false))));
  }
  return out;
}

function listVar(z3: Z3, id: string, name: string, s: Schema) {
  unmodelled(name, s, listKeywords);
  const items = isObject(s.items) ? s.items : undefined;
  if (items) unmodelled(`${name}[]`, items, new Set(['type']));
  const kind = scalarOf(items?.type);
  if (!kind || kind === 'int') throw new Undecided(`argument "${name}" is a list of items the analysis does not model`);
  const present = z3.Bool.const(`${id}?`);
  // A list longer than a condition searches makes it false (conditionLimits): no call longer than that is let through.
  const max =
    typeof s.maxItems === 'number' ? Math.min(s.maxItems, conditionLimits.maxListSize) : conditionLimits.maxListSize;
  const v = listOf(z3, id, kind, { bound: max });
  const len: Bool<'reach'>[] = [v.length.ge(typeof s.minItems === 'number' ? s.minItems : 0)];
  return { sym: { t: 'list', elem: kind, v, d: present } as const, present, integer: false, constraints: len };
}

/**
 * The arguments of one tool as variables, from its input schema (JSON Schema: per top-level property `type` boolean,
 * string, number, integer or a list of one of the first three; `enum`, the numeric bounds, `minLength`/`maxLength`,
 * `minItems`/`maxItems`; `required`). Anything else in an argument's schema makes a condition reading it undecided.
 * `defaults`: the arguments the worker fills in when absent (`argumentsAsSent`): always present to a condition.
 */
export class Arguments {
  private readonly vars = new Map<string, ArgumentVar>();
  private readonly properties: Schema;
  private readonly required: ReadonlySet<string>;
  private readonly z3: Z3;
  private readonly prefix: string;
  private readonly defaults: Readonly<Record<string, unknown>>;
  constructor(z3: Z3, prefix: string, schema: unknown, defaults: Readonly<Record<string, unknown>> = {}) {
    this.z3 = z3;
    this.prefix = prefix;
    this.defaults = defaults;
    const root = isObject(schema) ? schema : {};
    this.properties = isObject(root.properties) ? root.properties : {};
    this.required = new Set(Array.isArray(root.required) ? root.required.filter((r) => typeof r === 'string') : []);
  }

  /** The argument `name` (made on first read), or undefined when the schema has no such property. */
  get(name: string): ArgumentVar | undefined {
    const known = this.vars.get(name);
    if (known) return known;
    if (!Object.hasOwn(this.properties, name)) return undefined;
    const s = this.properties[name];
    if (!isObject(s)) throw new Undecided(`the schema of argument "${name}" is not an object`);
    const id = `${this.prefix}args.${name}`;
    const kind = s.type === 'array' ? 'list' : scalarOf(s.type);
    if (!kind) throw new Undecided(`argument "${name}" has no type the analysis models (${JSON.stringify(s.type)})`);
    const made = kind === 'list' ? listVar(this.z3, id, name, s) : scalarVar(this.z3, { id, name }, s, kind);
    const always = this.required.has(name) || Object.hasOwn(this.defaults, name);
    const arg: ArgumentVar = {
      name,
      ...made,
      constraints: always ? [made.present, ...made.constraints] : made.constraints,
    };
    this.vars.set(name, arg);
    return arg;
  }

  /** The required arguments (a witness must send them), made as variables. */
  requiredVars(): ArgumentVar[] {
    return [...this.required].flatMap((r) => this.get(r) ?? []);
  }

  /** Every argument made so far. */
  all(): ArgumentVar[] {
    return [...this.vars.values()];
  }

  /**
   * What the schema asks of every argument made so far (a value outside it is refused before any condition), and what
   * makes each list exist for its searches (read after the conditions are translated).
   */
  constraints(): Bool<'reach'>[] {
    return this.all().flatMap((a) => [
      ...a.constraints.map((c) => (c === a.present ? c : this.z3.Implies(a.present, c))),
      ...(a.sym.t === 'list' ? listConstraints(this.z3, a.sym.v) : []),
    ]);
  }
}
