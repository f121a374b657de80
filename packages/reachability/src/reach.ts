import { Environment } from '@marcbachmann/cel-js';
import { argumentsAsSent, decideAccess } from '@toolplane/access';
import { compileCondition, conditionLimits, type JsonSchema } from '@toolplane/conditions';
import type { AccessPolicyRule, CatalogTool, WorkspaceAccess } from '@toolplane/contracts';
import type { Bool, Model, Solver } from 'z3-solver';
import { Arguments, listConstraints, listOf } from './arguments.ts';
import {
  callerFieldsOf,
  groupsOf,
  identityOf,
  selectPrincipals,
  type PrincipalFilter,
  type ReachPrincipal,
} from './principals.ts';
import { Undecided } from './symbols.ts';
import { translate, type Scope, type SessionVars } from './translate.ts';
import { witnessOf, type Witness } from './witness.ts';
import { solver, type Z3 } from './z3.ts';

/** The tool a query is about: its definition, plan (for the defaults the worker fills in), and its server's marks. */
export type ReachTool = Pick<CatalogTool, 'tool' | 'plan'> & {
  readonly confirm?: unknown;
  readonly approval?: unknown;
};

export interface ReachQuery {
  /** The workspace's published access document (its policies, groups). */
  readonly access: WorkspaceAccess;
  readonly server: { readonly serverId: string; readonly name?: string | undefined };
  readonly tool: ReachTool;
  /** One principal (or a group's members); absent: every principal the document names. */
  readonly principal?: PrincipalFilter | undefined;
  /** API keys' names (`caller.key_name`), by key id; a key without one has no name. */
  readonly keyNames?: Readonly<Record<string, string>> | undefined;
  /** The most milliseconds one check of the solver may take before its answer is `undecided` (default 1,500). */
  readonly checkTimeoutMs?: number | undefined;
}

/** One answer: yes with a call that goes through, no (the solver proved no call does), or undecided and why. */
export type Verdict =
  | { readonly answer: 'yes'; readonly witness: Witness }
  | { readonly answer: 'no'; readonly proof: 'unsat' | 'not granted' | 'a person must act'; readonly why?: string }
  | { readonly answer: 'undecided'; readonly why: string };

/** A principal's two answers: a call with no person at hand, and one with a person. */
interface Verdicts {
  /** A call with no person at hand (no confirmation, no approval). */
  readonly withoutPerson: Verdict;
  /** A call with a person: the caller's confirmation, and others' approvals where a rule asks one. */
  readonly withPerson: Verdict & { readonly needs?: readonly string[] };
}

export interface PrincipalReach extends Verdicts {
  readonly principal: ReachPrincipal & { readonly groups?: readonly string[] };
  /** Whether some policy lets the principal see the tool (each call then still meets `condition`). */
  readonly granted: boolean;
  /** The condition on each call, as the policies' conditions combine (`true`: none), or why not granted. */
  readonly condition: string;
  /** The policies whose conditions decide (document order). */
  readonly policies: readonly string[];
}

interface Answer<P> {
  readonly tool: string;
  readonly serverId: string;
  readonly principals: readonly P[];
  /** Milliseconds the whole query took (the solver's initialisation on a process's first query included). */
  readonly ms: number;
}

export type ReachAnswer = Answer<PrincipalReach>;

/** A solver check's own bound: past it the answer is `undecided` (never a guess). */
const CHECK_TIMEOUT_MS = 1500;

const parser = new Environment({ homogeneousAggregateLiterals: false })
  .registerVariable('caller', 'map')
  .registerVariable('tool', 'map')
  .registerVariable('args', 'map')
  .registerVariable('session', 'map');

let queries = 0;

/** What every formula of one principal shares: the argument and the session variables, the caller's known fields. */
interface QueryScope extends Scope {
  readonly schema: JsonSchema;
}

type Clauses = readonly (readonly AccessPolicyRule[])[];

/** A principal's grants of the tool: each clause met when one of its policies' conditions holds; or why none. */
type Grant = { readonly clauses: Clauses } | { readonly why: string };

function grantOf(access: WorkspaceAccess, serverId: string, name: string, principal: ReachPrincipal): Grant {
  const decision = decideAccess(access, identityOf(principal), serverId);
  if (!decision.allowed) return { why: decision.reason };
  if (decision.grant !== 'all' && !decision.grant.has(name)) return { why: `no access policy grants tool "${name}"` };
  return { clauses: decision.conditions?.clauses(name) ?? [] };
}

function sessionVars(z3: Z3, prefix: string): SessionVars {
  const list = (name: string, bound: number, maxLength: number) =>
    listOf(z3, `${prefix}session.${name}`, 'str', { bound, maxLength });
  return {
    labels: list('labels', conditionLimits.maxSessionLabels, conditionLimits.maxSessionLabelLength),
    tools_called: list('tools_called', conditionLimits.maxSessionCalls, conditionLimits.maxSessionNameLength),
    read: false,
  };
}

function scopeOf(z3: Z3, query: Omit<ReachQuery, 'access'>, principal: ReachPrincipal): QueryScope {
  const { server, tool } = query;
  const prefix = `q${++queries}.`;
  const known = callerFieldsOf(principal);
  return {
    z3,
    schema: tool.tool.inputSchema as JsonSchema,
    args: new Arguments(z3, prefix, tool.tool.inputSchema, argumentsAsSent(tool as CatalogTool, {})),
    known: {
      caller: known.caller,
      unknownCaller: known.unknown,
      tool: { name: tool.tool.name, server_id: server.serverId, server_name: server.name },
      annotations: tool.tool.annotations as Record<string, unknown> | undefined,
    },
    session: sessionVars(z3, prefix),
  };
}

/** Each clause's formula: met when one of its policies' conditions holds (a clause with a log-only policy: always). */
function clauseFormula(scope: QueryScope, clause: readonly AccessPolicyRule[]): Bool<'reach'> {
  const { z3 } = scope;
  if (clause.some((r) => r.enforce === false)) return z3.Bool.val(true);
  return z3.Or(
    ...clause.map((rule) => {
      const compiled = compileCondition(rule.condition ?? '', { inputSchema: scope.schema });
      if (!compiled.ok) return z3.Bool.val(false);
      return translate(scope, parser.parse(rule.condition ?? '').ast);
    }),
  );
}

/** A call a failed set of clauses holds for approval (`approvalInsteadOf`): each failed clause names one rule, all the same. */
function heldFormula(z3: Z3, clauses: Clauses, met: Bool<'reach'>[]): Bool<'reach'> {
  const rules = clauses.map((c) => c.find((r) => r.approval !== undefined)?.approval);
  const parts: Bool<'reach'>[] = [z3.Not(z3.And(...met))];
  rules.forEach((rule, i) => {
    if (!rule) parts.push(met[i]!);
    for (let j = i + 1; j < rules.length; j++) {
      const other = rules[j];
      if (rule && other && rule.version !== other.version) parts.push(z3.Or(met[i]!, met[j]!));
    }
  });
  return z3.And(...parts);
}

/** The condition's text: each clause's policies' conditions joined with `||`, the clauses with `&&`. */
function conditionText(clauses: Clauses): string {
  if (clauses.length === 0) return 'true';
  const clause = (c: readonly AccessPolicyRule[]) =>
    c.some((r) => r.enforce === false)
      ? 'true'
      : c.length === 1
        ? (c[0]!.condition ?? 'false')
        : c.map((r) => `(${r.condition ?? 'false'})`).join(' || ');
  return clauses.map((c) => (clauses.length > 1 ? `(${clause(c)})` : clause(c))).join(' && ');
}

/** What a principal's calls of a tool meet: to go through (`pass`), to be held for an approval (`held`). */
interface Formulas {
  readonly pass: Bool<'reach'>;
  readonly held: Bool<'reach'>;
  /** What every call waits for from a person (the server's marks: confirmation, approval). */
  readonly personNeeds: readonly string[];
  /** The policies whose approval a held call waits for. */
  readonly approving: readonly string[];
}

function formulasOf(scope: QueryScope, clauses: Clauses, tool: ReachTool): Formulas {
  const { z3 } = scope;
  const met = clauses.map((c) => clauseFormula(scope, c));
  return {
    pass: z3.And(...met),
    held: heldFormula(z3, clauses, met),
    personNeeds: [...(tool.confirm ? ['confirmation'] : []), ...(tool.approval ? ['approval'] : [])],
    approving: [...new Set(clauses.flatMap((c) => c.filter((r) => r.approval).map((r) => r.id)))],
  };
}

/** A call without a person: none when the server marks the tool for one. */
const aloneOf = (z3: Z3, f: Formulas) => (f.personNeeds.length > 0 ? z3.Bool.val(false) : f.pass);
const withPersonOf = (z3: Z3, f: Formulas) => z3.Or(f.pass, f.held);

/** What a person's approval adds to a call's needs, when the model's call is held rather than let through. */
function needsOf(scope: QueryScope, f: Formulas, model: Model<'reach'>): string[] {
  if (scope.z3.isTrue(model.eval(f.pass, true))) return [...f.personNeeds];
  return [...f.personNeeds, `approval under access policy ${f.approving.join(' or ')}`];
}

/** The limits the edge enforces on what conditions read (the arguments' schema; the session when a condition reads it). */
function limits(scope: QueryScope): Bool<'reach'>[] {
  const out = [...scope.args.constraints()];
  for (const a of scope.args.requiredVars()) out.push(a.present, ...a.constraints);
  if (scope.session.read)
    out.push(
      ...listConstraints(scope.z3, scope.session.labels),
      ...listConstraints(scope.z3, scope.session.tools_called),
    );
  return out;
}

/** Whether some call meets `goal`: a witness, a proof that none does, or undecided (the solver gave no answer in time). */
async function solve<T extends object = object>(
  scope: QueryScope,
  s: Solver<'reach'>,
  goal: Bool<'reach'>,
  more?: (model: Model<'reach'>) => T,
): Promise<Verdict & Partial<T>> {
  s.push();
  try {
    s.add(goal, ...limits(scope));
    const result = await s.check();
    if (result === 'unsat') return { answer: 'no', proof: 'unsat' } as Verdict & Partial<T>;
    if (result === 'unknown')
      return { answer: 'undecided', why: `the solver gave no answer (${s.reasonUnknown()})` } as Verdict & Partial<T>;
    const model = s.model();
    return { answer: 'yes', witness: witnessOf(scope, model), ...(more?.(model) ?? {}) } as Verdict & Partial<T>;
  } finally {
    s.pop();
  }
}

/** A solver for one query's checks (each pushed and popped), bounded per check. */
function solverFor(z3: Z3, timeoutMs = CHECK_TIMEOUT_MS): Solver<'reach'> {
  const s = new z3.Solver();
  s.set('timeout', timeoutMs);
  return s;
}

function shownOf(access: WorkspaceAccess, principal: ReachPrincipal): PrincipalReach['principal'] {
  return principal.type === 'person' ? { ...principal, groups: groupsOf(access, principal.username) } : principal;
}

/** Both answers undecided, saying why (an error other than `Undecided` is thrown on). */
function undecidedBy(e: unknown): Verdicts {
  if (!(e instanceof Undecided)) throw e;
  const undecided = { answer: 'undecided', why: e.message } as const;
  return { withoutPerson: undecided, withPerson: undecided };
}

/** Each principal asked in turn, with one solver for the query (undefined: left out of the answer). */
async function askEach<P>(
  timeoutMs: number | undefined,
  principals: Iterable<ReachPrincipal>,
  ask: (z3: Z3, s: Solver<'reach'>, p: ReachPrincipal) => Promise<P | undefined>,
): Promise<{ principals: P[]; ms: number }> {
  const started = performance.now();
  const z3 = await solver();
  const s = solverFor(z3, timeoutMs);
  const out: P[] = [];
  for (const p of principals) {
    const answer = await ask(z3, s, p);
    if (answer !== undefined) out.push(answer);
  }
  return { principals: out, ms: performance.now() - started };
}

async function reachOf(z3: Z3, s: Solver<'reach'>, query: ReachQuery, principal: ReachPrincipal) {
  const { access, server, tool } = query;
  const name = tool.tool.name;
  const shown = shownOf(access, principal);
  const grant = grantOf(access, server.serverId, name, principal);
  if ('why' in grant) {
    const no = { answer: 'no', proof: 'not granted', why: grant.why } as const;
    return { principal: shown, granted: false, condition: 'false', policies: [], withoutPerson: no, withPerson: no };
  }
  const { clauses } = grant;
  const scope = scopeOf(z3, query, principal);
  const base = { principal: shown, granted: true, condition: conditionText(clauses) };
  const policies = [...new Set(clauses.flat().map((r) => r.id))];
  try {
    const f = formulasOf(scope, clauses, tool);
    const alone = await solve(scope, s, f.pass);
    const withoutPerson: Verdict =
      f.personNeeds.length > 0
        ? {
            answer: 'no',
            proof: 'a person must act',
            why: `every call of "${name}" needs ${f.personNeeds.join(' and ')}`,
          }
        : alone;
    if (alone.answer !== 'no')
      return { ...base, policies, withoutPerson, withPerson: { ...alone, needs: f.personNeeds } };
    const held = await solve(scope, s, f.held, (m) => ({ needs: needsOf(scope, f, m) }));
    return { ...base, policies, withoutPerson, withPerson: held };
  } catch (e) {
    return { ...base, policies, ...undecidedBy(e) };
  }
}

/**
 * Who can reach a tool, and under which conditions on the arguments and the session (docs/governance.md "Who can
 * reach what"): for each principal, the call the published rules let through without a person, and with one, each
 * as yes (with a witness: the principal and arguments of a call that goes through), no (unsat: none does) or
 * undecided (a condition outside what the translation covers, or a check the solver did not finish in time, and why).
 */
export async function reachability(query: ReachQuery): Promise<ReachAnswer> {
  const asked = selectPrincipals(query.access, query.principal, query.keyNames);
  const answer = await askEach(query.checkTimeoutMs, asked, (z3, s, p) => reachOf(z3, s, query, p));
  return { tool: query.tool.tool.name, serverId: query.server.serverId, ...answer };
}

/** The rules before and after a proposed change: the access document, and the tool with its server's marks. */
export interface ChangeQuery extends Omit<ReachQuery, 'access' | 'tool'> {
  readonly before: { readonly access: WorkspaceAccess; readonly tool: ReachTool };
  readonly after: { readonly access: WorkspaceAccess; readonly tool: ReachTool };
}

/**
 * What a change lets one principal do that it could not: a call that goes through after the change and did not
 * before, without a person and with one (yes with it, no: unsat).
 */
export interface PrincipalChange extends Verdicts {
  readonly principal: PrincipalReach['principal'];
  /** The calls newly let through: the condition after the change, and not the one before (`false`: not granted). */
  readonly condition: string;
  readonly before: string;
  readonly after: string;
}

/** Each principal the change lets through where it did not (granted after; principals with nothing new left out). */
export interface ChangeAnswer extends Answer<PrincipalChange> {
  /** Every principal asked about, newly reached or not. */
  readonly asked: number;
}

const keyOf = (p: ReachPrincipal) => (p.type === 'api_key' ? `k:${p.keyId}` : `p:${p.username}`);

function newlyText(before: Grant, after: Clauses): string {
  if ('why' in before) return conditionText(after);
  return `(${conditionText(after)}) && !(${conditionText(before.clauses)})`;
}

async function changeOf(z3: Z3, s: Solver<'reach'>, query: ChangeQuery, principal: ReachPrincipal) {
  const { before, after, server } = query;
  const name = after.tool.tool.name;
  const grantAfter = grantOf(after.access, server.serverId, name, principal);
  if ('why' in grantAfter) return undefined;
  const grantBefore = grantOf(before.access, server.serverId, name, principal);
  const scope = scopeOf(z3, { ...query, tool: after.tool }, principal);
  const shown = shownOf(after.access, principal);
  const texts = {
    condition: newlyText(grantBefore, grantAfter.clauses),
    before: 'why' in grantBefore ? 'false' : conditionText(grantBefore.clauses),
    after: conditionText(grantAfter.clauses),
  };
  try {
    const a = formulasOf(scope, grantAfter.clauses, after.tool);
    const b = 'why' in grantBefore ? undefined : formulasOf(scope, grantBefore.clauses, before.tool);
    const not = (x: Bool<'reach'> | undefined) => (x ? z3.Not(x) : z3.Bool.val(true));
    const withoutPerson = await solve(scope, s, z3.And(aloneOf(z3, a), not(b && aloneOf(z3, b))));
    const withPerson = await solve(scope, s, z3.And(withPersonOf(z3, a), not(b && withPersonOf(z3, b))), (m) => ({
      needs: needsOf(scope, a, m),
    }));
    return { principal: shown, ...texts, withoutPerson, withPerson };
  } catch (e) {
    return { principal: shown, ...texts, ...undecidedBy(e) };
  }
}

/**
 * Change impact (docs/governance.md "Who can reach what"): what a proposed change of the rules lets through that the
 * rules before it refused, for any arguments and the session: for each principal (of either document) granted the tool
 * after the change, a call without a person and one with a person that go through after and not before, each yes
 * with a witness or no with the solver's proof; principals with nothing new (both no) are left out.
 */
export async function reachabilityChange(query: ChangeQuery): Promise<ChangeAnswer> {
  const all = new Map<string, ReachPrincipal>();
  for (const doc of [query.before.access, query.after.access])
    for (const p of selectPrincipals(doc, query.principal, query.keyNames)) all.set(keyOf(p), all.get(keyOf(p)) ?? p);
  const sorted = [...all.values()].sort((x, y) => (keyOf(x) < keyOf(y) ? -1 : 1));
  const answer = await askEach(query.checkTimeoutMs, sorted, async (z3, s, p) => {
    const change = await changeOf(z3, s, query, p);
    const nothing = change?.withoutPerson.answer === 'no' && change.withPerson.answer === 'no';
    return change && !nothing ? change : undefined;
  });
  return { tool: query.after.tool.tool.name, serverId: query.server.serverId, asked: all.size, ...answer };
}
