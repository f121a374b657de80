import { afterAll, describe, expect, it } from '@jest/globals';
import type { ReachPrincipal } from '../../packages/reachability/src/principals.ts';
import { reachability, stopSolver, type PrincipalReach } from '../../packages/reachability/src/index.ts';
import { keyIds, keyNames, people, random, reachWorkspace, SERVER, tools } from '../fixtures/reach-workspace.ts';
import { agrees, calls, oracle } from '../helpers/reach-oracle.ts';

// Reachability's answers checked against brute force: for each query (a tool, a principal), every call of a bounded
// domain of arguments and the sessions goes through the access package's own decision (the edge's), and the solver's
// "yes" must come with a witness those functions let through, its "no" with no call of the domain let through.

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
      // A check's bound far above any query's time: the answers never depend on the machine's load.
      const answer = await reachability({
        access,
        server: SERVER,
        tool,
        principal: filter,
        keyNames,
        checkTimeoutMs: 600_000,
      });
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
    const first = times.shift()!;
    times.sort((a, b) => a - b);
    const at = (f: number) => times[Math.min(times.length - 1, Math.floor(f * times.length))]!.toFixed(1);
    console.log(
      `reachability: ${stats.queries} queries, ${stats.agreed} agree with the enumeration (${stats.points} calls), ` +
        `${stats.undecided} undecided; without a person ${stats.yes} yes, ${stats.no} no; ${stats.held} only with a ` +
        `person; per query ms (the first aside): median ${at(0.5)}, p95 ${at(0.95)}, p99 ${at(0.99)}, max ${at(1)} ` +
        `(the first, with the solver's start: ` +
        `${first.toFixed(1)})`,
    );
    expect(stats.disagreements.slice(0, 5)).toEqual([]);
    expect(stats.agreed).toBe(1000);
    expect(stats.undecided).toBe(0);
    expect(stats.yes).toBeGreaterThan(50);
    expect(stats.no).toBeGreaterThan(50);
  }, 600_000);
});
