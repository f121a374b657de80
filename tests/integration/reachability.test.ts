import { afterAll, describe, expect, it } from '@jest/globals';
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
import { reachability, stopSolver, type PrincipalReach, type Verdict } from '../../packages/reachability/src/index.ts';
import {
  domain,
  keyIds,
  keyNames,
  people,
  random,
  reachWorkspace,
  SERVER,
  sessions,
  tools,
  type ArgName,
} from '../fixtures/reach-workspace.ts';

// Reachability's answers checked against brute force: for each query (a tool, a principal), every call of a bounded
// domain of arguments and the sessions goes through the access package's own decision (the edge's), and the solver's
// "yes" must come with a witness those functions let through, its "no" with no call of the domain let through.

const ajv = new Ajv2020({ strict: false });
const conditional = new Map<CatalogTool, ConditionalTool>(tools.map((t) => [t, { def: t.tool }]));

type Args = Record<string, unknown>;

/** Every combination of the arguments `names` (absent too, unless required) and, when read, of the sessions. */
function* calls(tool: CatalogTool, names: readonly ArgName[], readsSession: boolean) {
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

interface Oracle {
  alone(args: Args, session: CallConditions['session']): boolean;
  withPerson(args: Args, session: CallConditions['session']): boolean;
  names: ArgName[];
  readsSession: boolean;
}

/** The edge's decision on one principal's calls of one tool (null: the tool is not granted). */
function oracle(access: WorkspaceAccess, tool: CatalogTool, p: ReachPrincipal): Oracle | null {
  const decision = decideAccess(access, identityOf(p), SERVER.serverId);
  const name = tool.tool.name;
  if (!decision.allowed || (decision.grant !== 'all' && !decision.grant.has(name))) return null;
  const caller =
    p.type === 'api_key'
      ? { key_id: p.keyId, key_name: keyNames[p.keyId]! }
      : { key_id: 'workspace', user: p.username };
  const ct = conditional.get(tool)!;
  const texts = (decision.conditions?.clauses(name) ?? []).flat().map((r) => r.condition ?? '');
  const names = (Object.keys(domain) as ArgName[]).filter((n) => texts.some((t) => t.includes(`args.${n}`)));
  const passes = (args: Args, session: CallConditions['session']) =>
    !decision.conditions ||
    conditionRefusal({ rules: decision.conditions, caller, session }, { catalog: SERVER }, ct, args) === undefined;
  return {
    names,
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

/** Whether a verdict agrees with the enumeration (and its witness is let through). */
function agrees(v: Verdict, tool: CatalogTool, found: boolean, check: Oracle['alone']): boolean {
  if (v.answer === 'undecided') return false;
  if (v.answer === 'no') return !found;
  const { args, session } = v.witness;
  return found && validates(tool, args) && check(args, session);
}

describe('reachability against brute force', () => {
  afterAll(() => stopSolver());

  it('1,000 queries on a generated workspace: every answer agrees with the enumeration, none undecided', async () => {
    const access = reachWorkspace(20261129);
    const rnd = random(7);
    const principals: ReachPrincipal[] = [
      ...keyIds.map((keyId): ReachPrincipal => ({ type: 'api_key', keyId, keyName: keyNames[keyId] })),
      ...people.map((username): ReachPrincipal => ({ type: 'person', username })),
    ];
    const stats = {
      queries: 0,
      agreed: 0,
      undecided: 0,
      yes: 0,
      no: 0,
      held: 0,
      points: 0,
      disagreements: [] as string[],
    };
    const times: number[] = [];
    for (let q = 0; q < 1000; q++) {
      const tool = tools[Math.floor(rnd() * tools.length)]!;
      const p = principals[Math.floor(rnd() * principals.length)]!;
      const filter =
        p.type === 'api_key'
          ? { type: 'api_key' as const, keyId: p.keyId }
          : { type: 'person' as const, username: p.username };
      const answer = await reachability({ access, server: SERVER, tool, principal: filter, keyNames });
      times.push(answer.ms);
      const r = answer.principals[0] as PrincipalReach;
      stats.queries++;
      const o = oracle(access, tool, p);
      let alone = false;
      let withPerson = false;
      if (o)
        for (const { args, session } of calls(tool, o.names, o.readsSession)) {
          stats.points++;
          alone ||= o.alone(args, session);
          withPerson ||= o.withPerson(args, session);
          if (alone) break;
        }
      withPerson ||= alone;
      const undecided = r.withoutPerson.answer === 'undecided' || r.withPerson.answer === 'undecided';
      if (undecided) stats.undecided++;
      if (undecided) stats.disagreements.push(`undecided: ${JSON.stringify(r)}`);
      if (r.withoutPerson.answer === 'yes') stats.yes++;
      if (r.withoutPerson.answer === 'no') stats.no++;
      if (r.withPerson.answer === 'yes' && r.withoutPerson.answer === 'no') stats.held++;
      const ok =
        r.granted === (o !== null) &&
        agrees(r.withoutPerson, tool, alone, (a, s) => o?.alone(a, s) ?? false) &&
        agrees(r.withPerson, tool, withPerson, (a, s) => o?.withPerson(a, s) ?? false);
      if (ok) stats.agreed++;
      else if (!undecided)
        stats.disagreements.push(
          `${tool.tool.name} ${JSON.stringify(p)}: ${JSON.stringify(r)} (alone ${alone}, with a person ${withPerson})`,
        );
    }
    const first = times[0]!;
    times.sort((a, b) => a - b);
    const at = (f: number) => times[Math.min(times.length - 1, Math.floor(f * times.length))]!.toFixed(1);
    console.log(
      `reachability: ${stats.queries} queries, ${stats.agreed} agree with the enumeration (${stats.points} calls), ` +
        `${stats.undecided} undecided; without a person ${stats.yes} yes, ${stats.no} no; ${stats.held} only with a ` +
        `person; per query ms: median ${at(0.5)}, p95 ${at(0.95)}, max ${at(1)} (the first, with the solver's start: ` +
        `${first.toFixed(1)})`,
    );
    expect(stats.disagreements.slice(0, 5)).toEqual([]);
    expect(stats.agreed).toBe(1000);
    expect(stats.undecided).toBe(0);
    expect(stats.yes).toBeGreaterThan(50);
    expect(stats.no).toBeGreaterThan(50);
  }, 600_000);
});
