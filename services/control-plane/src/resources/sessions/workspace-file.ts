import type { SessionRule } from '@toolplane/contracts';
import { z } from 'zod';
import { looseningOf } from '../change-requests/workspace-file-loosening.ts';
import { ApprovalRuleSpec, approvalRuleBody, approvalRuleFile } from '../servers/approval-rule-files.ts';
import {
  idOf,
  markerOnly,
  run,
  singleName,
  type NamedResource,
  type WorkspaceFileKind,
} from '../workspace-files/kind.ts';
import { sessionsOperations } from './operations.ts';
import { PutSessionSettingsBody, SessionRuleBody } from './schemas.ts';

/** A rule in its file: the API's, its approval rule's API keys by name (as every reference in the files). */
const RuleSpec = SessionRuleBody.safeExtend({ approval: ApprovalRuleSpec.omit({ notify: true }).optional() });
const SessionSpec = PutSessionSettingsBody.safeExtend({ rules: z.array(RuleSpec).max(50) });
type RuleFile = z.output<typeof RuleSpec>;

/** A stored rule as its file holds it: without the approval's version, its keys by name. */
function ruleFile(r: SessionRule, keyNames: Map<string, string>): RuleFile {
  const { approval, ...rest } = r;
  const file = approval ? approvalRuleFile(approval, keyNames) : null;
  if (!file) return rest;
  const { notify: _notify, ...rule } = file;
  return { ...rest, approval: rule };
}

/** The API keys and people the rules' approvers name (each must exist). */
function approverNames(s: Record<string, unknown>): NamedResource[] {
  return (s.rules as RuleFile[]).flatMap((r, i) => {
    const a = r.approval?.approvers;
    const at = `/rules/${i}/approval/approvers`;
    return [
      ...(a?.apiKeys ?? []).map((name, j) => ({ kind: 'api_key', name, path: `${at}/apiKeys/${j}`, what: 'API key' })),
      ...(a?.people ?? []).map((name, j) => ({
        kind: 'external_user',
        name,
        path: `${at}/people/${j}`,
        what: 'external user',
      })),
    ];
  });
}

/**
 * The workspace's session settings (ADR 0078), one file at the directory's root (`session.yaml`): the API's body
 * (`PUT /session_settings`), replaced whole; each approval rule without its version (the control plane computes it)
 * and with its API keys by name. No file: apply leaves the settings alone (and `--prune` removes them: no session
 * kept). A rule switched to log only, or removed, is a change of the file the plan shows.
 */
export const sessionFiles: WorkspaceFileKind = {
  kind: 'session',
  ...looseningOf('session_settings'),
  dir: '',
  file: 'session.yaml',
  schema: SessionSpec,
  refers: approverNames,
  async live({ deps, workspaceId, marker, names }) {
    const row = await deps.db.sessionSettings.findUnique({ where: { workspaceId } });
    if (!row) return [];
    const keys = names('api_key');
    const spec = { ttlSeconds: row.ttlSeconds, rules: (row.rules as SessionRule[]).map((r) => ruleFile(r, keys)) };
    const name = singleName;
    return [{ kind: 'session', name, id: workspaceId, spec, marker: marker('session', name) }];
  },
  write(c, ctx) {
    if (markerOnly(c)) return undefined;
    const s = c.desired!.spec as { ttlSeconds: number; rules: RuleFile[] };
    const rules = s.rules.map((r) =>
      r.approval ? { ...r, approval: approvalRuleBody(r.approval, (key) => idOf(ctx, 'api_key', key))! } : r,
    );
    return run(sessionsOperations, 'putSessionSettings', { body: { ttlSeconds: s.ttlSeconds, rules } });
  },
  remove: () => run(sessionsOperations, 'deleteSessionSettings'),
};
