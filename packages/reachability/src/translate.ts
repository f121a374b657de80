import type { ASTNode } from '@marcbachmann/cel-js';
import type { Bool } from 'z3-solver';
import type { Arguments } from './arguments.ts';
import { Undecided, type ListVar, type Sym } from './symbols.ts';
import type { Z3 } from './z3.ts';

/** The caller's and the tool's fields as conditions see them, for one principal (absent: the field is absent). */
interface KnownFields {
  readonly caller: Readonly<Record<string, string | undefined>>;
  /** Caller fields whose value the query does not know (reading one is undecided). */
  readonly unknownCaller: ReadonlySet<string>;
  readonly tool: { readonly name: string; readonly server_id: string; readonly server_name?: string | undefined };
  readonly annotations?: Readonly<Record<string, unknown>> | undefined;
}

/** The caller's session as conditions see it (`labels`, `tools_called`: lists of strings). */
export interface SessionVars {
  readonly labels: ListVar;
  readonly tools_called: ListVar;
  read: boolean;
}

export interface Scope {
  readonly z3: Z3;
  readonly args: Arguments;
  readonly known: KnownFields;
  readonly session: SessionVars;
}

type Node = ASTNode & { op: string; args: unknown };

const node = (n: unknown): Node => n as Node;

/** A CEL condition's AST as one boolean the solver reads: true exactly when the condition is defined and true. */
export function translate(scope: Scope, ast: ASTNode): Bool<'reach'> {
  const s = new Translator(scope).sym(node(ast));
  if (s.t === 'error') return scope.z3.Bool.val(false);
  if (s.t !== 'bool') throw new Undecided('the condition does not give a boolean');
  return scope.z3.And(s.d, s.v);
}

class Translator {
  private readonly z3: Z3;
  private readonly T: Bool<'reach'>;
  private readonly scope: Scope;
  constructor(scope: Scope) {
    this.scope = scope;
    this.z3 = scope.z3;
    this.T = scope.z3.Bool.val(true);
  }

  sym(n: Node): Sym {
    const a = n.args as unknown[];
    switch (n.op) {
      case 'value':
        return this.literal(n.args);
      case 'list':
        return { t: 'items', items: a.map((x) => this.sym(node(x))) };
      case 'id':
        return this.root(n.args as string);
      case '.':
        return this.member(this.sym(node(a[0])), a[1] as string);
      case '||':
      case '&&':
        return this.logic(n.op, this.sym(node(a[0])), this.sym(node(a[1])));
      case '!_':
        return this.not(this.sym(node(n.args)));
      case '-_':
        return this.negate(this.sym(node(n.args)));
      case '==':
      case '!=':
        return this.equality(n.op, this.sym(node(a[0])), this.sym(node(a[1])));
      case '<':
      case '<=':
      case '>':
      case '>=':
        return this.order(n.op, this.sym(node(a[0])), this.sym(node(a[1])));
      case 'in':
        return this.member_in(this.sym(node(a[0])), this.sym(node(a[1])));
      case 'call':
        return this.call(a[0] as string, a[1] as unknown[]);
      case 'rcall':
        return this.method(a[0] as string, this.sym(node(a[1])), a[2] as unknown[]);
      default:
        throw new Undecided(`the operator ${n.op} is outside what the analysis translates`);
    }
  }

  private literal(v: unknown): Sym {
    const { z3, T } = this;
    if (typeof v === 'boolean') return { t: 'bool', v: z3.Bool.val(v), d: T };
    if (typeof v === 'string') return { t: 'str', v: z3.String.val(v), d: T };
    if (typeof v === 'bigint' || (typeof v === 'number' && Number.isFinite(v)))
      return { t: 'num', v: z3.Real.val(typeof v === 'number' ? String(v) : v), d: T };
    throw new Undecided(`the literal ${String(v)} is outside what the analysis translates`);
  }

  private root(name: string): Sym {
    if (name === 'args' || name === 'caller' || name === 'tool' || name === 'session') {
      if (name === 'session') this.scope.session.read = true;
      return { t: 'map', name };
    }
    throw new Undecided(`the name ${name} is outside what the analysis translates`);
  }

  private constant(v: unknown): Sym {
    if (v === undefined) return { t: 'error' };
    if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return this.literal(v);
    throw new Undecided('a field whose value is not a string, number or boolean');
  }

  private member(base: Sym, field: string): Sym {
    if (base.t === 'error') return base;
    if (base.t !== 'map') throw new Undecided(`.${field} of a value that is not a map`);
    const { known, session } = this.scope;
    switch (base.name) {
      case 'args': {
        const arg = this.scope.args.get(field);
        if (!arg) throw new Undecided(`args.${field} is not an argument of the tool`);
        return arg.sym;
      }
      case 'caller':
        if (known.unknownCaller.has(field)) throw new Undecided(`caller.${field} is not known for this principal`);
        if (field === 'claims') throw new Undecided('caller.claims is outside what the analysis translates');
        return this.constant(known.caller[field]);
      case 'tool':
        if (field === 'annotations') return { t: 'map', name: 'tool.annotations' };
        return this.constant((known.tool as Record<string, string | undefined>)[field]);
      case 'tool.annotations':
        return this.constant(known.annotations?.[field]);
      case 'session':
        if (field === 'labels' || field === 'tools_called')
          return { t: 'list', elem: 'str', v: session[field], d: this.T };
        throw new Undecided(`session.${field} is outside what the analysis translates`);
      default:
        throw new Undecided(`${base.name}.${field} is outside what the analysis translates`);
    }
  }

  private has(arg: unknown): Sym {
    const n = node(arg);
    if (n.op !== '.') throw new Undecided('has() of something other than a field');
    const [baseNode, field] = n.args as [unknown, string];
    const base = this.sym(node(baseNode));
    const { z3, T } = this;
    if (base.t !== 'map') throw new Undecided('has() of a field of a value that is not a map');
    const known = (v: boolean): Sym => ({ t: 'bool', v: z3.Bool.val(v), d: T });
    switch (base.name) {
      case 'args': {
        const a = this.scope.args.get(field);
        return a ? { t: 'bool', v: a.present, d: T } : known(false);
      }
      case 'caller':
        if (this.scope.known.unknownCaller.has(field)) throw new Undecided(`caller.${field} is not known`);
        return known(this.scope.known.caller[field] !== undefined);
      case 'tool':
        return known(
          field === 'annotations' ? this.scope.known.annotations !== undefined : field in this.scope.known.tool,
        );
      case 'tool.annotations':
        return known(this.scope.known.annotations?.[field] !== undefined);
      case 'session':
        return known(field === 'labels' || field === 'tools_called' || field === 'calls');
      default:
        throw new Undecided(`has() on ${base.name}`);
    }
  }

  private logic(op: '||' | '&&', a: Sym, b: Sym): Sym {
    const { z3 } = this;
    const [x, y] = [this.asBool(a), this.asBool(b)];
    const tx = z3.And(x.d, x.v);
    const ty = z3.And(y.d, y.v);
    if (op === '||') return { t: 'bool', v: z3.Or(tx, ty), d: z3.Or(tx, ty, z3.And(x.d, y.d)) };
    const fx = z3.And(x.d, x.v.not());
    const fy = z3.And(y.d, y.v.not());
    return { t: 'bool', v: z3.And(tx, ty), d: z3.Or(fx, fy, z3.And(x.d, y.d)) };
  }

  /** A boolean operand (anything else is an error where it is read). */
  private asBool(s: Sym): { v: Bool<'reach'>; d: Bool<'reach'> } {
    if (s.t === 'bool') return s;
    if (s.t === 'error' || s.t === 'num' || s.t === 'str' || s.t === 'list')
      return { v: this.z3.Bool.val(false), d: this.z3.Bool.val(false) };
    throw new Undecided('a logical operator on a value the analysis does not translate');
  }

  private not(a: Sym): Sym {
    const x = this.asBool(a);
    return { t: 'bool', v: x.v.not(), d: x.d };
  }

  private negate(a: Sym): Sym {
    if (a.t === 'error') return a;
    if (a.t !== 'num') return { t: 'error' };
    return { t: 'num', v: a.v.neg(), d: a.d };
  }

  /** `a == b` as CEL has it: values of different types are unequal (not an error). */
  private eq(a: Sym, b: Sym): { v: Bool<'reach'>; d: Bool<'reach'> } {
    const { z3 } = this;
    if (a.t === 'error' || b.t === 'error') return { v: z3.Bool.val(false), d: z3.Bool.val(false) };
    if (a.t === 'items' || b.t === 'items' || a.t === 'list' || b.t === 'list' || a.t === 'map' || b.t === 'map')
      throw new Undecided('== on lists or maps is outside what the analysis translates');
    const d = z3.And(a.d, b.d);
    if (a.t !== b.t) return { v: z3.Bool.val(false), d };
    return { v: (a.v as Bool<'reach'>).eq(b.v as Bool<'reach'>), d };
  }

  private equality(op: '==' | '!=', a: Sym, b: Sym): Sym {
    const e = this.eq(a, b);
    return { t: 'bool', v: op === '==' ? e.v : e.v.not(), d: e.d };
  }

  private order(op: '<' | '<=' | '>' | '>=', a: Sym, b: Sym): Sym {
    const { z3 } = this;
    if (a.t === 'error' || b.t === 'error') return { t: 'error' };
    if (a.t === 'str' && b.t === 'str') throw new Undecided('ordering strings is outside what the analysis translates');
    if (a.t !== 'num' || b.t !== 'num') {
      if ((a.t === 'num' || a.t === 'str' || a.t === 'bool') && (b.t === 'num' || b.t === 'str' || b.t === 'bool'))
        return { t: 'error' };
      throw new Undecided(`${op} on values the analysis does not translate`);
    }
    const v = op === '<' ? a.v.lt(b.v) : op === '<=' ? a.v.le(b.v) : op === '>' ? a.v.gt(b.v) : a.v.ge(b.v);
    return { t: 'bool', v, d: z3.And(a.d, b.d) };
  }

  private member_in(x: Sym, list: Sym): Sym {
    const { z3 } = this;
    if (x.t === 'error' || list.t === 'error') return { t: 'error' };
    if (list.t === 'items') {
      const each = list.items.map((item) => this.eq(x, item));
      const xd = x.t === 'bool' || x.t === 'num' || x.t === 'str' ? x.d : this.T;
      return { t: 'bool', v: z3.Or(...each.map((e) => z3.And(e.d, e.v))), d: z3.And(xd, ...each.map((e) => e.d)) };
    }
    if (list.t !== 'list') throw new Undecided('in on a value that is not a list');
    if (x.t !== 'bool' && x.t !== 'num' && x.t !== 'str') throw new Undecided('in of a value that is not a scalar');
    const d = z3.And(x.d, list.d);
    if (x.t !== list.elem) return { t: 'bool', v: z3.Bool.val(false), d };
    // Whether the list holds the value: a variable of its own, tied to the others by `listConstraints`.
    const l = list.v;
    const held = z3.Bool.const(`${l.id}∋${l.tests.length}`);
    l.tests.push({ x: x.v, held });
    return { t: 'bool', v: held, d };
  }

  private size(a: Sym): Sym {
    if (a.t === 'error') return a;
    if (a.t === 'str') return { t: 'num', v: this.z3.ToReal(a.v.length()), d: a.d };
    if (a.t === 'list') return { t: 'num', v: this.z3.ToReal(a.v.length), d: a.d };
    if (a.t === 'items') return this.literal(a.items.length);
    if (a.t === 'num' || a.t === 'bool') return { t: 'error' };
    throw new Undecided('size() of a value the analysis does not translate');
  }

  private call(fn: string, args: unknown[]): Sym {
    if (fn === 'has' && args.length === 1) return this.has(args[0]);
    if (fn === 'size' && args.length === 1) return this.size(this.sym(node(args[0])));
    throw new Undecided(`the function ${fn}() is outside what the analysis translates`);
  }

  private method(fn: string, target: Sym, args: unknown[]): Sym {
    if (fn === 'size' && args.length === 0) return this.size(target);
    if ((fn === 'startsWith' || fn === 'endsWith' || fn === 'contains') && args.length === 1) {
      const arg = this.sym(node(args[0]));
      if (target.t === 'error' || arg.t === 'error') return { t: 'error' };
      if (target.t !== 'str' || arg.t !== 'str') {
        if (target.t === 'map' || target.t === 'items' || arg.t === 'map' || arg.t === 'items')
          throw new Undecided(`${fn}() on values the analysis does not translate`);
        return { t: 'error' };
      }
      const v =
        fn === 'startsWith'
          ? arg.v.prefixOf(target.v)
          : fn === 'endsWith'
            ? arg.v.suffixOf(target.v)
            : target.v.contains(arg.v);
      return { t: 'bool', v, d: this.z3.And(target.d, arg.d) };
    }
    throw new Undecided(`the function ${fn}() is outside what the analysis translates`);
  }
}
