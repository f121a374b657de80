import type { Expr, Model, Seq } from 'z3-solver';
import type { ListVar } from './symbols.ts';
import type { Scope } from './translate.ts';
import type { Z3 } from './z3.ts';

/** A call that goes through: its arguments and, when a condition reads it, the session as conditions see it. */
export interface Witness {
  readonly args: Record<string, unknown>;
  readonly session?: { labels: string[]; tools_called: string[]; calls: [] };
}

function numberOf(z3: Z3, e: Expr<'reach'>): number {
  if (z3.isIntVal(e)) return Number(e.value());
  if (z3.isRealVal(e)) {
    const { numerator, denominator } = e.value();
    return Number(numerator) / Number(denominator);
  }
  throw new Error(`not a number: ${e.sexpr()}`);
}

function scalarOf(z3: Z3, kind: 'bool' | 'num' | 'str', e: Expr<'reach'>): unknown {
  if (kind === 'bool') return z3.isTrue(e);
  if (kind === 'str') return (e as Seq<'reach'>).asString();
  return numberOf(z3, e);
}

/** The values a model gives a list's searches, each with whether the list holds it. */
function searched(z3: Z3, model: Model<'reach'>, v: ListVar): { value: unknown; held: boolean }[] {
  return v.tests.map((t) => ({
    value: scalarOf(z3, v.kind, model.eval(t.x, true)),
    held: z3.isTrue(model.eval(t.held, true)),
  }));
}

/** A list's elements: the values it holds, then filler unequal to every value searched for or sent (`used`). */
function listOf(z3: Z3, model: Model<'reach'>, v: ListVar, used: Set<unknown>): unknown[] {
  const length = numberOf(z3, model.eval(v.length, true));
  const tests = searched(z3, model, v);
  const held = [...new Set(tests.filter((t) => t.held).map((t) => t.value))];
  // A boolean filler: a value held, else one no search said the list lacks (listConstraints: there is one).
  const lacked = new Set(tests.filter((t) => !t.held).map((t) => t.value));
  const boolean = held.length > 0 ? held[0] : lacked.has(false);
  let n = 0;
  const fresh = (): unknown => {
    if (v.kind === 'bool') return boolean;
    for (;;) {
      const candidate = v.kind === 'str' ? `~${n++}` : 1e6 + n++;
      if (!used.has(candidate)) return candidate;
    }
  };
  return [...held, ...Array.from({ length: Math.max(0, length - held.length) }, fresh)];
}

/** The call a model describes: each argument it makes present, with its value (the session when it was read). */
export function witnessOf(scope: Scope, model: Model<'reach'>): Witness {
  const { z3 } = scope;
  const args: Record<string, unknown> = {};
  const used = new Set<unknown>();
  const lists: [string, ListVar][] = [];
  const { labels, tools_called } = scope.session;
  for (const l of [labels, tools_called]) for (const t of searched(z3, model, l)) used.add(t.value);
  for (const a of scope.args.all()) {
    const { sym } = a;
    if (sym.t === 'list') for (const t of searched(z3, model, sym.v)) used.add(t.value);
    if (!z3.isTrue(model.eval(a.present, true))) continue;
    if (sym.t === 'list') lists.push([a.name, sym.v]);
    else used.add((args[a.name] = scalarOf(z3, sym.t, model.eval(sym.v, true))));
  }
  for (const [name, v] of lists) args[name] = listOf(z3, model, v, used);
  if (!scope.session.read) return { args };
  const strings = (v: ListVar) => listOf(z3, model, v, used) as string[];
  return { args, session: { labels: strings(labels), tools_called: strings(tools_called), calls: [] } };
}
