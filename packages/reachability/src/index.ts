/**
 * Reachability (ADR 0107, docs/governance.md "Who can reach what"): exact answers to "who can reach which tool under
 * which conditions on the arguments and the session, without a person and with one", over a workspace's published
 * access document, by translating policy conditions (a subset of CEL) for the Z3 solver.
 */
export { reachability, reachabilityChange } from './reach.ts';
export type { ChangeAnswer, PrincipalChange, PrincipalReach, ReachTool, Verdict } from './reach.ts';
export type { PrincipalFilter } from './principals.ts';
export { stopSolver } from './z3.ts';
