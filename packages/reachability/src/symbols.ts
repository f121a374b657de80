import type { Arith, Bool, Expr, Seq } from 'z3-solver';

/**
 * What a part of a condition is to the solver: a value of one CEL type and whether it is defined (CEL's errors: a
 * missing argument, an operator on the wrong type). A condition grants only when it is defined and true.
 */
export type Sym =
  | { readonly t: 'bool'; readonly v: Bool<'reach'>; readonly d: Bool<'reach'> }
  | { readonly t: 'num'; readonly v: Arith<'reach'>; readonly d: Bool<'reach'> }
  | { readonly t: 'str'; readonly v: Seq<'reach'>; readonly d: Bool<'reach'> }
  | { readonly t: 'list'; readonly elem: Scalar; readonly v: ListVar; readonly d: Bool<'reach'> }
  | { readonly t: 'items'; readonly items: readonly Sym[] }
  /** A map the condition reads fields of (`args`, `caller`, `tool`, `session`, `tool.annotations`). */
  | { readonly t: 'map'; readonly name: string }
  /** Always an error (a field known to be absent, an operator on the wrong type). */
  | { readonly t: 'error' };

export type Scalar = 'bool' | 'num' | 'str';

/** Something outside what the translation covers: the answer is "undecided: <why>", never a guess. */
export class Undecided extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'Undecided';
  }
}

/**
 * A list the call sends (or the session holds): its length, and each value a condition searches it for with whether
 * the list holds it. Conditions read a list only by `in` and `size()`, so that is all of it they can tell apart: a list
 * exists for given answers exactly when the distinct values it holds fit in its length, a value is held or not alike
 * wherever it is searched for, and (for booleans, the one finite kind) the other elements have a value to take
 * (`listConstraints`). A witness lists the held values, then filler no condition searched for.
 */
export interface ListVar {
  readonly id: string;
  readonly kind: Scalar;
  readonly length: Arith<'reach'>;
  readonly bound: number;
  /** Characters an element may have (the session's lists), when bounded. */
  readonly maxLength?: number | undefined;
  /** The values conditions search the list for (in the order translated), each with whether the list holds it. */
  readonly tests: { readonly x: Expr<'reach'>; readonly held: Bool<'reach'> }[];
}
