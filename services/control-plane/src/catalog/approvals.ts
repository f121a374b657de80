import { createHash } from 'node:crypto';
import type { ApprovalApprovers, ApprovalRule, Catalog, WorkflowPlan } from '@toolplane/contracts';
import type { Tx } from '../db/client.ts';
import { markNamed } from './named-tools.ts';

/** Where a rule's new requests are announced (`approvalRule.notify`): a webhook and the body it takes. */
export interface ApprovalNotifyTarget {
  url: string;
  format: 'json' | 'slack';
}

/** A server's approval rule as stored (`approvalRule`): approvers, how many, for how long, who is told. */
export interface StoredApprovalRule {
  approvers: ApprovalApprovers;
  approvals: number;
  expiresInSeconds: number;
  /** Absent on rules stored before notifications: none. */
  notify?: ApprovalNotifyTarget[] | undefined;
}

const sorted = (list: readonly string[] | undefined) => [...(list ?? [])].sort();

/**
 * The rule's version: a digest of what it says (approvers in any order, approvals, expiry). Requests made under
 * another version are not this rule's: a change of the rule leaves earlier approvals unusable (ADR 0049). Who is
 * notified (`notify`) is not part of it: changing the webhooks leaves pending requests valid.
 */
export function approvalRuleVersion(rule: StoredApprovalRule): string {
  const { approvers: a, approvals, expiresInSeconds } = rule;
  const canonical = JSON.stringify([
    sorted(a.apiKeys),
    sorted(a.subjects),
    sorted(a.people),
    approvals,
    expiresInSeconds,
    // Last and only when named: the versions of rules without groups stay what they were.
    ...(a.groups?.length ? [sorted(a.groups)] : []),
  ]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}

/** The rule as the edges apply it (with its version). */
function publishedApprovalRule(rule: StoredApprovalRule): ApprovalRule {
  return {
    version: approvalRuleVersion(rule),
    approvers: rule.approvers,
    approvals: rule.approvals,
    expiresInSeconds: rule.expiresInSeconds,
  };
}

/**
 * Marks the tools of `approvalTools` with the server's rule (ADR 0049: the edge enqueues their calls only once
 * approved). As `confirmTools`: a name the server does not expose is refused (422) when the list was just set, else a
 * warning. Without a rule nothing is marked (the server's update refuses approval tools without one).
 */
export function markApproval(
  catalog: Catalog,
  names: readonly string[],
  rule: StoredApprovalRule | null | undefined,
  strict: boolean,
): Catalog {
  if (names.length === 0 || !rule) return catalog;
  const approval = publishedApprovalRule(rule);
  return markNamed(catalog, names, {
    field: 'approvalTools',
    strict,
    mark: (t) => ({ ...t, approval }),
    warning: (name) =>
      `tool "${name}" is to be approved before each call (approvalTools), but the server does not expose it`,
  });
}

/**
 * The rule a workflow tool inherits from its steps (a step is a call of its tool, ADR 0045): the rule of the servers
 * whose `approvalTools` name a step's tool, looked up now. `conflict` when steps fall under different rules: such a
 * workflow tool is not exposed (no one rule's approvers may stand in for another's). Undefined: no step needs one.
 */
export async function stepApproval(
  tx: Tx,
  stepTools: WorkflowPlan['tools'],
): Promise<ApprovalRule | 'conflict' | undefined> {
  const steps = Object.values(stepTools ?? {}).filter((s) => s.serverId !== undefined);
  if (steps.length === 0) return undefined;
  const servers = await tx.mcpServer.findMany({
    where: { id: { in: [...new Set(steps.map((s) => s.serverId!))] } },
    select: { id: true, approvalTools: true, approvalRule: true },
  });
  const byId = new Map(servers.map((s) => [s.id, s]));
  const rules = new Map<string, ApprovalRule>();
  for (const step of steps) {
    const server = byId.get(step.serverId!);
    const rule = server?.approvalRule as StoredApprovalRule | null | undefined;
    if (!rule || !server!.approvalTools.includes(step.name)) continue;
    const published = publishedApprovalRule(rule);
    rules.set(published.version, published);
  }
  if (rules.size > 1) return 'conflict';
  return rules.values().next().value;
}
