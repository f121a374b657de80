import {
  isOutboundLabel,
  type DataLabel,
  type LabelOrigin,
  type ResultLabel,
  type SessionRule,
} from '@toolplane/contracts';

/**
 * Session rules (ADR 0078, docs/governance.md "Rules that see the session"): a call of a tool that sends data out
 * (`public_write`, `external_write`) is judged by what its session already holds (`private`, `untrusted`, each with the
 * earlier result that brought it). One implementation for the edge's session stage, the worker's workflow steps and
 * the control plane's explanations.
 */

/** The rules that can apply to calls of a tool with these labels (none for a tool that sends nothing out). */
export function sessionRulesFor(
  rules: readonly SessionRule[] | undefined,
  toolLabels: readonly DataLabel[],
): readonly SessionRule[] {
  if (!rules?.length) return [];
  const outbound = toolLabels.filter(isOutboundLabel);
  if (outbound.length === 0) return [];
  return rules.filter((r) => r.toolLabels.some((l) => outbound.includes(l)));
}

/** One rule meeting a call: the rule, and the label of the session that decided (the latest result that brought it). */
export interface SessionMatch {
  readonly rule: SessionRule;
  readonly origin: LabelOrigin;
}

/** What the rules say of a call: the first enforced rule that holds (refuse or ask), and every log-only one that would. */
export interface SessionJudgement {
  readonly enforced?: SessionMatch | undefined;
  readonly shadow: readonly SessionMatch[];
}

/** The session rules on a call, given what its session holds (the rules already narrowed to its tool). */
export function judgeSession(
  rules: readonly SessionRule[],
  labels: ReadonlyMap<ResultLabel, LabelOrigin>,
): SessionJudgement {
  let enforced: SessionMatch | undefined;
  const shadow: SessionMatch[] = [];
  for (const rule of rules) {
    const origin = latestOf(rule.after, labels);
    if (!origin) continue;
    if (!rule.enforce) shadow.push({ rule, origin });
    else enforced ??= { rule, origin };
  }
  return { enforced, shadow };
}

/** Of the labels a rule names, the one the session got last. */
function latestOf(after: readonly ResultLabel[], labels: ReadonlyMap<ResultLabel, LabelOrigin>) {
  let found: LabelOrigin | undefined;
  for (const l of after) {
    const o = labels.get(l);
    if (o && (!found || o.at > found.at)) found = o;
  }
  return found;
}

const labelWords: Record<ResultLabel, string> = {
  private: 'private data',
  untrusted: 'untrusted content (written by outsiders)',
};

/** How the label's earlier result is named: its tool, record id and time, and how the label was found. */
export function originText(o: LabelOrigin): string {
  const how =
    o.source === 'guardrail'
      ? `a guardrail found ${o.detector ?? 'something'} in it`
      : o.source === 'classification'
        ? 'its server is classified so by an admin'
        : o.source === 'annotation'
          ? "the tool's MCP annotations say it reads the open world"
          : 'the tool is declared so';
  return (
    `${labelWords[o.label]} from the result of "${o.tool}" (record ${o.invocationId}, ` +
    `${new Date(o.at).toISOString()}; ${how})`
  );
}

/** The rule as refusals name it. */
export function sessionRuleName(rule: Pick<SessionRule, 'id' | 'name'>): string {
  return rule.name !== undefined ? `session rule "${rule.name}" (${rule.id})` : `session rule ${rule.id}`;
}

/** Why a call is refused (or waits for approval) by a session rule, in words a model and a person can act on. */
export function sessionDecisionText(tool: string, m: SessionMatch): string {
  const sends = `"${tool}" sends data out of the company`;
  const because = `this session already holds ${originText(m.origin)}`;
  const rule = sessionRuleName(m.rule);
  if (m.rule.action === 'refuse')
    return (
      `Refused by ${rule}: ${sends}, and ${because}. Nothing was sent. A call in a session that has not read ` +
      'such content runs; an admin can end this session.'
    );
  return `Held by ${rule}: ${sends}, and ${because}; someone must approve this exact call before it runs.`;
}
