import type { Expr, Model, Seq } from 'z3-solver';
import type { ListVar } from './symbols.ts';
import type { Scope } from './translate.ts';
import type { Z3 } from './z3.ts';

/** A call that goes through: its arguments and, when a condition reads it, the session as conditions see it. */
export interface Witness {
  readonly args: Record<string, unknown>;
  readonly session?: { labels: string[]; tools_called: string[]; calls: [] };
}

type Kind = 'bool' | 'num' | 'str';

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

/** A list's elements: its named ones, then filler unequal to every value the witness has (`used`). */
function listOf(z3: Z3, model: Model<'reach'>, [kind, v]: [Kind, ListVar], used: Set<unknown>): unknown[] {
  const length = numberOf(z3, model.eval(v.length, true));
  const named = v.slots.slice(0, length).map((e) => scalarOf(z3, kind, model.eval(e, true)));
  let n = 0;
  const fresh = (): unknown => {
    // A list of booleans has filler only when no condition searches it (searchProblem): any value does.
    if (kind === 'bool') return false;
    for (;;) {
      const candidate = kind === 'str' ? `~${n++}` : kind === 'num' ? 1e6 + n++ : undefined;
      if (!used.has(candidate)) return candidate;
    }
  };
  return [...named, ...Array.from({ length: length - named.length }, fresh)];
}

/** The call a model describes: each argument it makes present, with its value (the session when it was read). */
export function witnessOf(scope: Scope, model: Model<'reach'>): Witness {
  const { z3 } = scope;
  const args: Record<string, unknown> = {};
  const used = new Set<unknown>();
  const lists: [string, Kind, ListVar][] = [];
  for (const a of scope.args.all()) {
    if (!z3.isTrue(model.eval(a.present, true))) continue;
    const { sym } = a;
    if (sym.t === 'list') {
      lists.push([a.name, sym.elem, sym.v]);
      for (const e of sym.v.slots) used.add(scalarOf(z3, sym.elem, model.eval(e, true)));
    } else used.add((args[a.name] = scalarOf(z3, sym.t, model.eval(sym.v, true))));
  }
  for (const [name, kind, v] of lists) args[name] = listOf(z3, model, [kind, v], used);
  if (!scope.session.read) return { args };
  const strings = (v: ListVar) => listOf(z3, model, ['str', v], used) as string[];
  return {
    args,
    session: { labels: strings(scope.session.labels), tools_called: strings(scope.session.tools_called), calls: [] },
  };
}
