import {
  judgeSession,
  originText,
  sessionDecisionText,
  sessionRuleName,
  sessionRulesFor,
  type SessionMatch,
} from '@toolplane/access';
import { sessionScopes, type Catalog, type SessionRule, type SessionSettings } from '@toolplane/contracts';
import { readSession } from '@toolplane/queue';
import { isUuid } from '../../db/ids.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { ExplainBody } from './schemas.ts';

/**
 * The session rules' part in an explanation (ADR 0078, docs/governance.md "Rules that see the session"): the rules
 * that apply to the tool (by its catalog labels, `sessionRulesFor`), and, when the caller's session holds labels, the
 * rule that would decide the call and the earlier result whose label decides it (`judgeSession`, `originText`). Read
 * from the caller's session in Redis, as the edge reads it; never a value.
 */

const verbs: Record<SessionRule['action'], string> = { refuse: 'is refused', require_approval: 'needs approval' };

/** One line on a rule: what sets it off and what it does to a call of this tool. */
function ruleLine(r: SessionRule): string {
  const after = r.after.join(' or ');
  const does = `after ${after} content entered the caller's session, a call of this tool ${verbs[r.action]}`;
  return r.enforce ? does : `${does} (log only: the caller sees no change, session.would_* recorded)`;
}

/** The caller's session scopes as the edge computes them: its key, else its subject, and the person it acts for. */
async function callerScopes(
  { db }: ControlPlaneDeps,
  workspaceId: string,
  caller: ExplainBody['caller'],
  serverId: string,
): Promise<string[] | undefined> {
  const user =
    caller.external_user === undefined
      ? undefined
      : await db.externalUser.findFirst({
          where: isUuid(caller.external_user)
            ? { workspaceId, OR: [{ id: caller.external_user }, { name: caller.external_user }] }
            : { workspaceId, name: caller.external_user },
          select: { id: true },
        });
  const principal = { keyId: caller.api_key, subject: caller.oauth_subject, userId: user?.id };
  // An external user named alone: the workspace's own credential acting for them, whose only session is the person's.
  if (principal.keyId === undefined && principal.subject === undefined)
    return principal.userId === undefined ? undefined : [`u:${principal.userId}`];
  return sessionScopes(principal, serverId);
}

function decision(tool: string, m: SessionMatch) {
  const o = m.origin;
  return {
    rule: { id: m.rule.id, name: sessionRuleName(m.rule) },
    enforce: m.rule.enforce,
    label: o.label,
    origin: {
      tool: o.tool,
      server_id: o.serverId,
      invocation_id: o.invocationId,
      at: new Date(o.at).toISOString(),
      source: o.source,
      ...(o.detector !== undefined ? { detector: o.detector } : {}),
      text: originText(o),
    },
    why: m.rule.enforce ? sessionDecisionText(tool, m) : `Log only: ${sessionDecisionText(tool, m)}`,
  };
}

/** The explanation's `session` part; undefined when no session rule applies to the tool (the answer is unchanged). */
export async function explainSession(
  deps: ControlPlaneDeps,
  call: { workspaceId: string; settings: SessionSettings | undefined; body: ExplainBody; catalog: Catalog },
  entry: Catalog['tools'][number],
) {
  const { workspaceId, settings, body, catalog } = call;
  const rules = sessionRulesFor(
    settings?.rules,
    (entry.labels ?? []).map((l) => l.label),
  );
  if (rules.length === 0) return undefined;
  const scopes = await callerScopes(deps, workspaceId, body.caller, catalog.serverId);
  const view = scopes
    ? await readSession(deps.redis, { prefix: deps.prefix, workspaceId, scopes })
    : { labels: new Map() };
  const judged = judgeSession(rules, view.labels);
  const decides = judged.enforced ?? judged.shadow[0];
  return {
    rules: rules.map((r) => ({
      id: r.id,
      name: sessionRuleName(r),
      action: r.action,
      enforce: r.enforce,
      after: r.after,
      why: ruleLine(r),
    })),
    labels: [...view.labels.keys()].sort(),
    decided_by: decides ? decision(entry.tool.name, decides) : null,
  };
}
