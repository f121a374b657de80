import { createHash } from 'node:crypto';
import {
  DEFAULT_SESSION_TTL_SECONDS,
  defaultSessionRule,
  type ApprovalApprovers,
  type SessionRule,
  type SessionSettings,
} from '@toolplane/contracts';
import { approvalRuleVersion, type StoredApprovalRule } from '../../catalog/approvals.ts';
import type { Db, Tx } from '../../db/client.ts';
import type { SessionRuleBody } from './schemas.ts';

/**
 * A workspace's session settings (ADR 0078, docs/governance.md "Rules that see the session"): one row per workspace,
 * its rules stored as they are published (each approval rule with its version), read by the publication of the
 * workspace's access document (`WorkspaceAccess.session`).
 */

/**
 * The version of a session rule's approval: a digest of the rule (its id, labels and action) and of its approval rule
 * as a server's approval rule is digested (`approvalRuleVersion`). A change of either leaves the requests made under the
 * old one unusable (ADR 0049); switching the rule between log only and enforced does not change it.
 */
export function sessionRuleVersion(
  rule: Pick<SessionRule, 'id' | 'after' | 'toolLabels' | 'action'>,
  approval: StoredApprovalRule,
): string {
  const canonical = JSON.stringify([
    'session_rule',
    rule.id,
    [...rule.after].sort(),
    [...rule.toolLabels].sort(),
    rule.action,
    approvalRuleVersion(approval),
  ]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}

/** A rule of the API's body as it is stored and published: its approval rule with its version. */
export function publishedRule(r: SessionRuleBody | SessionRule): SessionRule {
  const a = r.approval;
  return {
    id: r.id,
    ...(r.name !== undefined ? { name: r.name } : {}),
    after: r.after,
    toolLabels: r.toolLabels,
    action: r.action,
    ...(a
      ? {
          approval: {
            version: sessionRuleVersion(r, a),
            approvers: a.approvers,
            approvals: a.approvals,
            expiresInSeconds: a.expiresInSeconds,
          },
        }
      : {}),
    enforce: r.enforce,
  };
}

/** The workspace's session settings as edges and workers read them; undefined: none (no session kept). */
export async function sessionSettingsOf(db: Db | Tx, workspaceId: string): Promise<SessionSettings | undefined> {
  const row = await db.sessionSettings.findUnique({ where: { workspaceId } });
  return row ? { ttlSeconds: row.ttlSeconds, rules: row.rules as SessionRule[] } : undefined;
}

/**
 * Who approves under a new workspace's default rule: the workspace's admins as the approvals machinery names them,
 * that is its API keys with the "management" scope and no server restriction (at creation, its first key); a workspace
 * with none but the deployment's bootstrap key names the OAuth group `admins` (the bootstrap key is never in the
 * workspace's files: a rule naming it would not survive an export and a plan).
 */
async function adminApprovers(db: Db, workspaceId: string, exceptHash?: string): Promise<ApprovalApprovers> {
  const keys = await db.apiKey.findMany({
    where: {
      workspaceId,
      revokedAt: null,
      scopes: { has: 'management' },
      serverIds: { isEmpty: true },
      ...(exceptHash ? { hash: { not: exceptHash } } : {}),
    },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    select: { id: true },
    take: 100,
  });
  return keys.length > 0 ? { apiKeys: keys.map((k) => k.id) } : { groups: ['admins'] };
}

/** The settings a new workspace starts with: 24 h, the default rule in log-only mode, approved by its admins. */
async function defaultSessionSettings(db: Db, workspaceId: string, exceptHash?: string): Promise<SessionSettings> {
  const rule = defaultSessionRule(await adminApprovers(db, workspaceId, exceptHash), '');
  return { ttlSeconds: DEFAULT_SESSION_TTL_SECONDS, rules: [publishedRule(rule)] };
}

/** Gives a new workspace its default settings (never replacing settings it has). */
export async function startSessionSettings(db: Db, workspaceId: string, bootstrapKeyHash?: string): Promise<void> {
  const settings = await defaultSessionSettings(db, workspaceId, bootstrapKeyHash);
  await db.sessionSettings.upsert({
    where: { workspaceId },
    create: { workspaceId, ttlSeconds: settings.ttlSeconds, rules: settings.rules },
    update: {},
  });
}

/** Whether a rule of the workspace's session settings requires approval under that version now (an approval's check). */
export async function sessionRuleInForce(
  db: Db | Tx,
  call: { workspaceId: string; ruleVersion: string },
): Promise<boolean> {
  const settings = await sessionSettingsOf(db, call.workspaceId);
  return (settings?.rules ?? []).some(
    (r) => r.action === 'require_approval' && r.enforce && r.approval?.version === call.ruleVersion,
  );
}
