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
 * A list the call sends (or the session holds): its length, and its first elements as variables. Conditions read a
 * list only by `in` and `size()`, so a call needs no more named elements than the condition tests memberships: the
 * others are filler unequal to anything (a witness gives them fresh values). With more membership tests than slots the
 * answer is undecided (`memberships`), unless the slots cover the list's whole bound.
 */
export interface ListVar {
  readonly length: Arith<'reach'>;
  readonly slots: readonly Expr<'reach'>[];
  readonly bound: number;
  memberships: number;
}

/** Elements a list is given as variables (the others filler). */
export const LIST_SLOTS = 8;
