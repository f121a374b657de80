import { ValidationError } from '@toolplane/errors';
import {
  reachability,
  type PrincipalChange,
  type PrincipalFilter,
  type PrincipalReach,
  type Verdict,
} from '@toolplane/reachability';
import { explainedTool } from '../access-policies/explain.ts';
import { workspaceAccess } from '../access-policies/publish.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { changeImpact } from './change.ts';
import type { ReachabilityBody } from './schemas.ts';

function filterOf(p: ReachabilityBody['principal']): PrincipalFilter | undefined {
  if (p?.api_key !== undefined) return { type: 'api_key', keyId: p.api_key };
  if (p?.external_user !== undefined) return { type: 'person', username: p.external_user };
  if (p?.external_group !== undefined) return { type: 'group', name: p.external_group };
  return undefined;
}

function verdict(v: Verdict & { needs?: readonly string[] }) {
  return {
    answer: v.answer,
    ...(v.answer === 'yes' ? { witness: v.witness } : {}),
    ...(v.answer === 'no' ? { proof: v.proof } : {}),
    ...(v.answer !== 'yes' && v.why !== undefined ? { why: v.why } : {}),
    ...(v.needs && v.needs.length > 0 ? { needs: [...v.needs] } : {}),
  };
}

function principalOf(p: PrincipalReach['principal']) {
  return p.type === 'api_key'
    ? { type: p.type, key_id: p.keyId, ...(p.keyName !== undefined ? { key_name: p.keyName } : {}) }
    : { type: p.type, username: p.username, groups: [...(p.groups ?? [])] };
}

function presentChange(c: PrincipalChange) {
  return {
    principal: principalOf(c.principal),
    condition: c.condition,
    before: c.before,
    after: c.after,
    without_person: verdict(c.withoutPerson),
    with_person: verdict(c.withPerson),
  };
}

function present(r: PrincipalReach) {
  return {
    principal: principalOf(r.principal),
    granted: r.granted,
    condition: r.condition,
    policies: [...r.policies],
    without_person: verdict(r.withoutPerson),
    with_person: verdict(r.withPerson),
  };
}

/**
 * `POST /governance/reachability` (docs/governance.md "Who can reach what", ADR 0107): who can call a tool, and under
 * which conditions on its arguments and the session, without a person and with one, answered exactly by a solver over
 * the access policies the edges have (never guessed: a condition outside the translation is `undecided`).
 */
export async function reach(deps: ControlPlaneDeps, { body, caller: { workspaceId } }: Input<ReachabilityBody>) {
  const { db } = deps;
  const target = await explainedTool(db, workspaceId, body);
  if (!target.ok) throw new ValidationError('the reachability cannot be answered', target.issues, 'request.invalid');
  const { catalog, entry } = target.value;
  const [access, keys] = await Promise.all([
    workspaceAccess(db, workspaceId),
    db.apiKey.findMany({ where: { workspaceId }, select: { id: true, name: true } }),
  ]);
  const server = { serverId: catalog.serverId, name: catalog.name };
  const principal = filterOf(body.principal);
  const keyNames = Object.fromEntries(keys.map((k) => [k.id, k.name]));
  const answer = await reachability({ access, server, tool: entry, principal, keyNames });
  const change =
    body.change &&
    (await changeImpact(deps, { workspaceId, server, tool: entry, principal, keyNames }, body.change.files));
  return {
    server: { id: catalog.serverId, name: catalog.name },
    tool: answer.tool,
    principals: answer.principals.map(present),
    ms: Math.round(answer.ms * 10) / 10,
    ...(change
      ? {
          change: {
            newly_reachable: change.principals.map(presentChange),
            asked: change.asked,
            ms: Math.round(change.ms * 10) / 10,
          },
        }
      : {}),
  };
}
