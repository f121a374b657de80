import { Environment } from '@marcbachmann/cel-js';
import { argumentsAsSent, decideAccess } from '@toolplane/access';
import { compileCondition, conditionLimits, type JsonSchema } from '@toolplane/conditions';
import type { AccessPolicyRule, CatalogTool, WorkspaceAccess } from '@toolplane/contracts';
import type { Bool, Seq } from 'z3-solver';
import { Arguments, listOf, searchProblem } from './arguments.ts';
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
type ReachTool = Pick<CatalogTool, 'tool' | 'plan' | 'confirm' | 'approval'>;

export interface ReachQuery {
  /** The workspace's published access document (its policies, groups). */
  readonly access: WorkspaceAccess;
  readonly server: { readonly serverId: string; readonly name?: string | undefined };
  readonly tool: ReachTool;
  /** One principal (or a group's members); absent: every principal the document names. */
  readonly principal?: PrincipalFilter | undefined;
  /** API keys' names (`caller.key_name`), by key id; a key without one has no name. */
  readonly keyNames?: Readonly<Record<string, string>> | undefined;
}

/** One answer: yes with a call that goes through, no (the solver proved no call does), or undecided and why. */
export type Verdict =
  | { readonly answer: 'yes'; readonly witness: Witness }
  | { readonly answer: 'no'; readonly proof: 'unsat' | 'not granted' | 'a person must act'; readonly why?: string }
  | { readonly answer: 'undecided'; readonly why: string };

export interface PrincipalReach {
  readonly principal: ReachPrincipal & { readonly groups?: readonly string[] };
  /** Whether some policy lets the principal see the tool (each call then still meets `condition`). */
  readonly granted: boolean;
  /** The condition on each call, as the policies' conditions combine (`true`: none), or why not granted. */
  readonly condition: string;
  /** The policies whose conditions decide (document order). */
  readonly policies: readonly string[];
  /** A call with no person at hand (no confirmation, no approval). */
  readonly withoutPerson: Verdict;
  /** A call with a person: the caller's confirmation, and others' approvals where a rule asks one. */
  readonly withPerson: Verdict & { readonly needs?: readonly string[] };
}

export interface ReachAnswer {
  readonly tool: string;
  readonly serverId: string;
  readonly principals: readonly PrincipalReach[];
  /** Milliseconds the whole query took (the solver's initialisation on a process's first query included). */
  readonly ms: number;
}

const parser = new Environment({ homogeneousAggregateLiterals: false })
  .registerVariable('caller', 'map')
  .registerVariable('tool', 'map')
  .registerVariable('args', 'map')
  .registerVariable('session', 'map');

let queries = 0;

/** What every principal's formulas share in one query: the argument and session variables. */
interface QueryScope extends Scope {
  readonly schema: JsonSchema;
}

function sessionVars(z3: Z3, prefix: string): SessionVars {
  return {
    labels: listOf(z3, `${prefix}session.labels`, 'str', conditionLimits.maxSessionLabels),
    tools_called: listOf(z3, `${prefix}session.tools_called`, 'str', conditionLimits.maxSessionCalls),
    read: false,
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
function heldFormula(z3: Z3, clauses: readonly (readonly AccessPolicyRule[])[], met: Bool<'reach'>[]): Bool<'reach'> {
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
function conditionText(clauses: readonly (readonly AccessPolicyRule[])[]): string {
  if (clauses.length === 0) return 'true';
  const clause = (c: readonly AccessPolicyRule[]) =>
    c.some((r) => r.enforce === false)
      ? 'true'
      : c.length === 1
        ? (c[0]!.condition ?? 'false')
        : c.map((r) => `(${r.condition ?? 'false'})`).join(' || ');
  return clauses.map((c) => (clauses.length > 1 ? `(${clause(c)})` : clause(c))).join(' && ');
}

async function solve(scope: QueryScope, goal: Bool<'reach'>): Promise<Verdict> {
  const { z3 } = scope;
  const s = new z3.Solver();
  s.add(goal, ...scope.args.constraints());
  for (const a of scope.args.requiredVars()) s.add(a.present, ...a.constraints);
  if (scope.session.read) {
    const { labels, tools_called } = scope.session;
    for (const [l, max] of [
      [labels, conditionLimits.maxSessionLabelLength],
      [tools_called, conditionLimits.maxSessionNameLength],
    ] as const) {
      s.add(l.length.ge(0), l.length.le(l.bound));
      for (const e of l.slots) s.add((e as Seq<'reach'>).length().le(max));
    }
  }
  const result = await s.check();
  if (result === 'unsat') return { answer: 'no', proof: 'unsat' };
  if (result === 'unknown') return { answer: 'undecided', why: `the solver gave no answer (${s.reasonUnknown()})` };
  return { answer: 'yes', witness: witnessOf(scope, s.model()) };
}

async function reachOf(z3: Z3, query: ReachQuery, principal: ReachPrincipal): Promise<PrincipalReach> {
  const { access, server, tool } = query;
  const name = tool.tool.name;
  const shown =
    principal.type === 'person' ? { ...principal, groups: groupsOf(access, principal.username) } : principal;
  const decision = decideAccess(access, identityOf(principal), server.serverId);
  if (!decision.allowed || (decision.grant !== 'all' && !decision.grant.has(name))) {
    const why = decision.allowed ? `no access policy grants tool "${name}"` : decision.reason;
    const no = { answer: 'no', proof: 'not granted', why } as const;
    return { principal: shown, granted: false, condition: 'false', policies: [], withoutPerson: no, withPerson: no };
  }
  const clauses = decision.conditions?.clauses(name) ?? [];
  const prefix = `q${++queries}.`;
  const known = callerFieldsOf(principal);
  const defaults = argumentsAsSent(tool, {});
  const scope: QueryScope = {
    z3,
    schema: tool.tool.inputSchema as JsonSchema,
    args: new Arguments(z3, prefix, tool.tool.inputSchema, defaults),
    known: {
      caller: known.caller,
      unknownCaller: known.unknown,
      tool: { name, server_id: server.serverId, server_name: server.name },
      annotations: tool.tool.annotations as Record<string, unknown> | undefined,
    },
    session: sessionVars(z3, prefix),
  };
  const base = { principal: shown, granted: true, condition: conditionText(clauses) };
  const policies = [...new Set(clauses.flat().map((r) => r.id))];
  try {
    const met = clauses.map((c) => clauseFormula(scope, c));
    const why =
      scope.args.overSearched() ??
      (['labels', 'tools_called'] as const)
        .map((n) => {
          const problem = searchProblem(scope.session[n], 'str');
          return problem && `session.${n} ${problem}`;
        })
        .find((w) => w !== undefined);
    if (why) throw new Undecided(why);
    const pass = z3.And(...met);
    const personNeeds = [...(tool.confirm ? ['confirmation'] : []), ...(tool.approval ? ['approval'] : [])];
    const alone = await solve(scope, pass);
    const withoutPerson: Verdict =
      personNeeds.length > 0
        ? {
            answer: 'no',
            proof: 'a person must act',
            why: `every call of "${name}" needs ${personNeeds.join(' and ')}`,
          }
        : alone;
    if (alone.answer !== 'no')
      return { ...base, policies, withoutPerson, withPerson: { ...alone, needs: personNeeds } };
    const approving = [...new Set(clauses.flatMap((c) => c.filter((r) => r.approval).map((r) => r.id)))];
    const held = await solve(scope, heldFormula(z3, clauses, met));
    const needs = [...personNeeds, `approval under access policy ${approving.join(' or ')}`];
    return { ...base, policies, withoutPerson, withPerson: held.answer === 'yes' ? { ...held, needs } : held };
  } catch (e) {
    if (!(e instanceof Undecided)) throw e;
    const undecided = { answer: 'undecided', why: e.message } as const;
    return { ...base, policies, withoutPerson: undecided, withPerson: undecided };
  }
}

/**
 * Who can reach a tool, and under which conditions on the arguments and the session (docs/governance.md "Who can
 * reach what"): for each principal, the call the published rules let through without a person, and with one, each
 * as yes (with a witness: the principal and arguments of a call that goes through), no (unsat: none does) or
 * undecided (a condition outside what the translation covers, and why).
 */
export async function reachability(query: ReachQuery): Promise<ReachAnswer> {
  const started = performance.now();
  const z3 = await solver();
  const principals: PrincipalReach[] = [];
  for (const p of selectPrincipals(query.access, query.principal, query.keyNames))
    principals.push(await reachOf(z3, query, p));
  return { tool: query.tool.tool.name, serverId: query.server.serverId, principals, ms: performance.now() - started };
}
