import { Ajv2020 } from 'ajv/dist/2020.js';
import { approvalInsteadOf, decideAccess } from '../../packages/access/src/index.ts';
import {
  conditionRefusal,
  failedClauses,
  type CallConditions,
  type ConditionalTool,
} from '../../packages/access/src/call-conditions.ts';
import type { CatalogTool, WorkspaceAccess } from '../../packages/contracts/src/index.ts';
import { identityOf, type ReachPrincipal } from '../../packages/reachability/src/principals.ts';
import type { Verdict } from '../../packages/reachability/src/index.ts';
import { domain, keyNames, SERVER, sessions, type ArgName } from '../fixtures/reach-workspace.ts';

// The brute force reachability's answers are checked against: a principal's calls of a tool over a bounded domain of
// arguments and sessions (tests/fixtures/reach-workspace.ts), each decided by the access package's own functions (the
// edge's).

const ajv = new Ajv2020({ strict: false });
/** One per tool definition: the access package keeps its compiled conditions per one. */
const conditional = new WeakMap<CatalogTool['tool'], ConditionalTool>();

export type Args = Record<string, unknown>;
export type Session = CallConditions['session'];

/** Every combination of the arguments `names` (absent too, unless required) and, when read, of the sessions. */
export function* calls(tool: CatalogTool, names: readonly ArgName[], readsSession: boolean) {
  const required = new Set((tool.tool.inputSchema as { required: string[] }).required);
  const fixed: Args = Object.fromEntries(
    [...required].filter((r) => !names.includes(r as ArgName)).map((r) => [r, domain[r as ArgName][0]]),
  );
  const choices = names.map((n) => [...(required.has(n) ? [] : [undefined]), ...domain[n]]);
  const total = choices.reduce((n, c) => n * c.length, 1);
  for (let i = 0; i < total; i++) {
    const args: Args = { ...fixed };
    let rest = i;
    names.forEach((n, j) => {
      const c = choices[j]!;
      const v = c[rest % c.length];
      rest = Math.floor(rest / c.length);
      if (v !== undefined) args[n] = v;
    });
    if (!readsSession) yield { args, session: undefined };
    else for (const session of sessions) yield { args, session };
  }
}

export interface Oracle {
  alone(args: Args, session: Session): boolean;
  withPerson(args: Args, session: Session): boolean;
  /** The arguments and whether the session the principal's conditions read. */
  names: ArgName[];
  readsSession: boolean;
  /** The grants that decide, as the access package gives them (policies with conditions, approvals, enforcement). */
  signature: string;
}

/** The edge's decision on one principal's calls of one tool (null: the tool is not granted). */
export function oracle(access: WorkspaceAccess, tool: CatalogTool, p: ReachPrincipal): Oracle | null {
  const decision = decideAccess(access, identityOf(p), SERVER.serverId);
  const name = tool.tool.name;
  if (!decision.allowed || (decision.grant !== 'all' && !decision.grant.has(name))) return null;
  const caller =
    p.type === 'api_key'
      ? { key_id: p.keyId, key_name: keyNames[p.keyId]! }
      : { key_id: 'workspace', user: p.username };
  const ct = conditional.get(tool.tool) ?? { def: tool.tool };
  conditional.set(tool.tool, ct);
  const clauses = decision.conditions?.clauses(name) ?? [];
  const texts = clauses.flat().map((r) => r.condition ?? '');
  const names = (Object.keys(domain) as ArgName[]).filter((n) => texts.some((t) => t.includes(`args.${n}`)));
  const passes = (args: Args, session: Session) =>
    !decision.conditions ||
    conditionRefusal({ rules: decision.conditions, caller, session }, { catalog: SERVER }, ct, args) === undefined;
  return {
    names,
    signature: JSON.stringify(clauses),
    readsSession: texts.some((t) => t.includes('session')),
    alone: (args, session) => !tool.confirm && passes(args, session),
    withPerson: (args, session) =>
      passes(args, session) ||
      (decision.conditions !== undefined &&
        approvalInsteadOf(
          failedClauses({ rules: decision.conditions, caller, session }, { catalog: SERVER }, ct, args),
        ) !== undefined),
  };
}

const validates = (tool: CatalogTool, args: Args) => ajv.validate(tool.tool.inputSchema, args);

/** Whether a verdict agrees with the enumeration (`found`: some call met `check`; a witness must meet it too). */
export function agrees(v: Verdict, tool: CatalogTool, found: boolean, check: (a: Args, s: Session) => boolean) {
  if (v.answer === 'undecided') return false;
  if (v.answer === 'no') return !found;
  const { args, session } = v.witness;
  return found && validates(tool, args) && check(args, session);
}
