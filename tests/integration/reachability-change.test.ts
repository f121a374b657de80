import { afterAll, describe, expect, it } from '@jest/globals';
import type { ReachPrincipal } from '../../packages/reachability/src/principals.ts';
import { reachabilityChange, stopSolver, type PrincipalChange } from '../../packages/reachability/src/index.ts';
import {
  keyIds,
  keyNames,
  loosenedWorkspace,
  people,
  random,
  reachWorkspace,
  SERVER,
  tools,
  type ArgName,
} from '../fixtures/reach-workspace.ts';
import { agrees, calls, oracle, type Oracle } from '../helpers/reach-oracle.ts';

// Change impact checked against brute force: for every tool and principal of the generated workspace, the calls a
// mostly loosening change lets through that the rules before it refused, enumerated over the bounded domain through
// the edge's own decision, against the solver's answer (a witness let through after and refused before, or unsat).

const principals: ReachPrincipal[] = [
  ...keyIds.map((keyId): ReachPrincipal => ({ type: 'api_key', keyId, keyName: keyNames[keyId] })),
  ...people.map((username): ReachPrincipal => ({ type: 'person', username })),
];
const keyOf = (p: ReachPrincipal) => (p.type === 'api_key' ? p.keyId : p.username);

/** Whether some call of the domain goes through after and not before, without a person and with one. */
function newlyByEnumeration(before: Oracle | null, after: Oracle | null, tool: (typeof tools)[number]) {
  if (!after) return { alone: false, withPerson: false };
  const names = [...new Set([...(before?.names ?? []), ...after.names])] as ArgName[];
  const readsSession = after.readsSession || (before?.readsSession ?? false);
  let alone = false;
  let withPerson = false;
  for (const { args, session } of calls(tool, names, readsSession)) {
    alone ||= after.alone(args, session) && !(before?.alone(args, session) ?? false);
    withPerson ||= after.withPerson(args, session) && !(before?.withPerson(args, session) ?? false);
    if (alone && withPerson) break;
  }
  return { alone, withPerson };
}

describe('change impact against brute force', () => {
  afterAll(() => stopSolver());

  it('a loosening change: exactly the newly reachable (principal, tool) pairs of 300, each with a witness', async () => {
    const access = reachWorkspace(20261129);
    const after = loosenedWorkspace(access, 11);
    const rnd = random(13);
    const expected: string[] = [];
    const answered: string[] = [];
    const disagreements: string[] = [];
    for (let q = 0; q < 300; q++) {
      const i = Math.floor(rnd() * tools.length);
      const [tool, toolAfter] = [tools[i]!, after.tools[i]!];
      const p = principals[Math.floor(rnd() * principals.length)]!;
      const answer = await reachabilityChange({
        before: { access, tool },
        after: { access: after.access, tool: toolAfter },
        server: SERVER,
        principal:
          p.type === 'api_key' ? { type: 'api_key', keyId: p.keyId } : { type: 'person', username: p.username },
        keyNames,
        checkTimeoutMs: 600_000,
      });
      const c: PrincipalChange | undefined = answer.principals[0];
      const ob = oracle(access, tool, p);
      const oa = oracle(after.access, toolAfter, p);
      // Grants and marks alike before and after: nothing is new, by definition (the solver must prove it too).
      const unchanged = ob && oa && ob.signature === oa.signature && !tool.confirm === !toolAfter.confirm;
      const found = unchanged ? { alone: false, withPerson: false } : newlyByEnumeration(ob, oa, toolAfter);
      const label = `${q} ${tool.tool.name} ${keyOf(p)}`;
      if (found.alone || found.withPerson) expected.push(label);
      if (c) answered.push(label);
      const no = { answer: 'no', proof: 'unsat' } as const;
      const ok =
        agrees(c?.withoutPerson ?? no, toolAfter, found.alone, (a, s) => !!oa?.alone(a, s) && !ob?.alone(a, s)) &&
        agrees(
          c?.withPerson ?? no,
          toolAfter,
          found.withPerson,
          (a, s) => !!oa?.withPerson(a, s) && !ob?.withPerson(a, s),
        );
      if (!ok) disagreements.push(`${label}: ${JSON.stringify(c)} (enumerated ${JSON.stringify(found)})`);
    }
    console.log(`change impact: ${expected.length} of 300 (principal, tool) pairs newly reachable`);
    expect(disagreements.slice(0, 5)).toEqual([]);
    expect(answered.sort()).toEqual(expected.sort());
    expect(expected.length).toBeGreaterThan(10);
  }, 600_000);
});
