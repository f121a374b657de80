import {
  judgeSession,
  originText,
  sessionDecisionEvent,
  sessionDecisionText,
  sessionRuleName,
  sessionRulesFor,
  type CallEventBase,
  type SessionMatch,
} from '@toolplane/access';
import type {
  LabelOrigin,
  ResultLabel,
  SessionOfJob,
  SessionRule,
  SessionSettings,
  ToolOutcome,
} from '@toolplane/contracts';
import { addToSession, readSession, type SessionView } from '@toolplane/queue';
import type { CallSession } from '../governance/sessions.ts';
import { callEvents } from '../calls/call-audit.ts';
import type { LoadedTool } from '../state/catalogs.ts';
import { budgetCaller } from '../governance/shadow-decisions.ts';
import { errorResult, refuse } from './refusal.ts';
import type { CallState, Settle, Stage, Verdict } from './stage.ts';

/**
 * Rules that see the session (ADR 0078): in a workspace that keeps sessions, a call of a tool whose results bring
 * labels (declared, classified, or found by the guardrails on its results) hands the worker its session (`rules.session`),
 * which the worker labels before the result leaves; a call of a tool that sends data out is judged by what its
 * session already holds (`judgeSession`): refused, held for someone's approval (the approval stage asks it), or, log
 * only, recorded as what would have happened. In a workspace whose conditions read the session, every call is
 * counted in it (`countCalls`).
 */
export const sessionStage: Stage = {
  name: 'session',
  // Every tool: a workspace whose conditions read the session counts every call in it. A workspace that keeps no
  // session pays one test.
  // Reads too (`rules` in @toolplane/access): a read of an attached server's resource or prompt brings its server's
  // classification; it is no call of a tool: not counted, and it sends nothing out.
  appliesTo: () => true,
  run(s) {
    const session = s.call.facts.session;
    if (!session) return undefined;
    const { tool } = s;
    const brings = (tool.rules.labels?.results.length ?? 0) > 0 || tool.rules.scannedResults || tool.workflow;
    const countCalls = session.countCalls === true && !s.read;
    if (brings || countCalls) s.rules.session = jobSession(s, session, countCalls);
    const rules = rulesFor(session.settings, tool);
    const settle = brings ? answeredLabels(s) : undefined;
    if (rules.length === 0) return settle;
    return judge(s, session, rules).then((verdict) => verdict ?? settle);
  },
};

/** What the job carries: the session's scopes and lifetime, what each result of the tool brings, where it came from. */
function jobSession(s: CallState, session: CallSession, countCalls: boolean): SessionOfJob {
  const { call, tool } = s;
  const results = tool.rules.labels?.results;
  const via = call.task
    ? `task:${call.task.id}`
    : call.parentInvocationId
      ? `program:${call.parentInvocationId}`
      : undefined;
  return {
    scopes: [...session.scopes],
    ttlSeconds: session.settings.ttlSeconds,
    ...(results?.length ? { labels: results.map(({ label, source }) => ({ label, source })) } : {}),
    ...(via ? { via } : {}),
    ...(countCalls ? { countCalls: true as const } : {}),
  };
}

/** The rules of the workspace that judge calls of `tool`, worked out once per published settings and loaded tool. */
const judging = new WeakMap<SessionSettings, WeakMap<LoadedTool, readonly SessionRule[]>>();

function rulesFor(settings: SessionSettings, tool: LoadedTool): readonly SessionRule[] {
  const outbound = tool.rules.labels?.outbound;
  if (!outbound?.length || settings.rules.length === 0) return [];
  let byTool = judging.get(settings);
  if (!byTool) judging.set(settings, (byTool = new WeakMap()));
  let rules = byTool.get(tool);
  if (!rules) byTool.set(tool, (rules = sessionRulesFor(settings.rules, outbound)));
  return rules;
}

/**
 * A cached answer (no job, so no worker to label the session) brings the tool's declared labels all the same, written
 * here before it leaves; when they cannot be written the answer does not leave (a transient tool error instead).
 */
function answeredLabels(s: CallState): { settle: Settle } | undefined {
  const job = s.rules.session;
  const { deps, call, tool, invocationId } = s;
  if (!job?.labels?.length) return undefined;
  let jobRan = false;
  return {
    settle: {
      queued: (added) => {
        jobRan = added;
      },
      finish: async (outcome: ToolOutcome) => {
        if (jobRan) return outcome;
        try {
          if (!deps.sessions) throw new Error('this edge keeps no sessions');
          const where = { prefix: deps.sessions.prefix, workspaceId: call.principal.workspaceId, session: job };
          const entry = { tool: tool.def.name, serverId: call.loaded.catalog.serverId, invocationId, at: Date.now() };
          await addToSession(deps.sessions.redis, where, { ...entry, labels: job.labels!, countCall: false });
          return outcome;
        } catch (err) {
          deps.log.warn({ err, tool: tool.def.name }, 'a session could not be labelled: the cached answer is withheld');
          return errorResult(unavailableText(tool.def.name, 'was not returned'));
        }
      },
    },
  };
}

/** The caller's session as the store holds it (every scope); rejects when this edge keeps none or Redis fails. */
export async function readCallSession(s: Pick<CallState, 'deps' | 'call'>, session: CallSession): Promise<SessionView> {
  const { deps, call } = s;
  if (!deps.sessions) throw new Error('this edge keeps no sessions');
  const where = { prefix: deps.sessions.prefix, workspaceId: call.principal.workspaceId, scopes: session.scopes };
  return readSession(deps.sessions.redis, where);
}

const unavailableText = (name: string, what: string) =>
  `The session of this call of "${name}" could not be read or updated (the edge cannot reach Redis): the call ${what}, ` +
  'nothing was sent. Retry in a few seconds.';

/**
 * The session's labels against the rules: a refusal, a hold (the approval stage asks), or nothing (log-only events). A
 * workflow is judged with what its own steps bring too: its steps would carry that content out within the run, where
 * no step can wait for an approval, so the whole run is held (or refused) before any step runs; once approved, its
 * job names the rules approved (`approved`) and the worker lets its steps through them.
 */
async function judge(s: CallState, session: CallSession, rules: readonly SessionRule[]): Promise<Verdict> {
  const { deps, call, tool } = s;
  const enforcing = rules.some((r) => r.enforce);
  let view: SessionView;
  try {
    view = await readCallSession(s, session);
  } catch (err) {
    deps.log.warn({ err, tool: tool.def.name }, 'a session could not be read');
    if (!enforcing) return undefined;
    return refuse(s, { errorCode: 'session.unavailable', message: unavailableText(tool.def.name, 'was not made') });
  }
  const labels = tool.workflow ? withOwnLabels(s, view.labels) : view.labels;
  if (labels.size === 0) return undefined;
  const { enforced, shadow } = judgeSession(rules, labels);
  let events: CallEventBase | undefined;
  const event = (m: SessionMatch, decision: 'refused' | 'held' | 'would_refuse' | 'would_hold') => {
    events ??= callEvents(call, tool.def.name);
    const facts = { rule: m.rule, decision, origin: m.origin, invocationId: s.invocationId };
    deps.audit?.add(sessionDecisionEvent(events, facts));
  };
  for (const m of shadow)
    if (deps.shadowEvents?.take('session', m.rule.id, budgetCaller(call.principal), tool.def.name) ?? true)
      event(m, m.rule.action === 'refuse' ? 'would_refuse' : 'would_hold');
  if (!enforced) return undefined;
  if (enforced.rule.action === 'refuse') {
    event(enforced, 'refused');
    return refuse(s, { errorCode: 'session.refused', message: sessionDecisionText(tool.def.name, enforced) });
  }
  event(enforced, 'held');
  if (s.policyApproval) return undefined;
  const own = enforced.origin.invocationId === s.invocationId;
  s.policyApproval = {
    ...enforced.rule.approval!,
    policy: { id: `session-rule:${enforced.rule.id}`, name: enforced.rule.name },
    session: {
      reason:
        `${sessionRuleName(enforced.rule)} holds a call that sends data out when ` +
        (own
          ? `its own steps bring ${originText(enforced.origin)}: this workflow's steps would carry it out`
          : `this session already holds ${originText(enforced.origin)}`),
      origin: { ...enforced.origin, rule: enforced.rule.id },
    },
  };
  // Approved, the run's steps are not refused by this rule (the job is only queued with the approval spent).
  if (tool.workflow && s.rules.session) s.rules.session.approved = [enforced.rule.id];
  return undefined;
}

/** The session's labels and, where the session lacks one, what the workflow's own steps bring (this call's origin). */
function withOwnLabels(
  s: CallState,
  held: ReadonlyMap<ResultLabel, LabelOrigin>,
): ReadonlyMap<ResultLabel, LabelOrigin> {
  const own = s.tool.rules.labels?.results;
  if (!own?.length) return held;
  const labels = new Map(held);
  const at = Date.now();
  for (const { label, source } of own)
    if (!labels.has(label))
      labels.set(label, {
        label,
        source,
        tool: s.tool.def.name,
        serverId: s.call.loaded.catalog.serverId,
        invocationId: s.invocationId,
        at,
      });
  return labels;
}
