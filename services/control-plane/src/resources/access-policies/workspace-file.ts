import { PolicyPrincipal } from '@toolplane/contracts';
import { z } from 'zod';
import { conditionProblems } from './condition-files.ts';
import { looseningOf } from '../change-requests/workspace-file-loosening.ts';
import { ApprovalRuleSpec, approvalRuleBody, approvalRuleFile } from '../servers/approval-rule-files.ts';
import {
  byName,
  idOf,
  liveRows,
  markerOnly,
  namedIn,
  Names,
  run,
  type WorkspaceFileKind,
} from '../workspace-files/kind.ts';
import { accessPoliciesOperations } from './operations.ts';

const PolicySpec = z.strictObject({
  name: z.string().min(1),
  description: z.string().nullable().default(null),
  /** `api_key` principals name a key by its name; the others as the API takes them. */
  principals: z.array(PolicyPrincipal.strict()).min(1),
  /** Server names, or ["*"]. */
  servers: Names.min(1),
  tools: Names.min(1),
  condition: z.string().min(1).nullable().default(null),
  /** What a false condition does: refuse, or hold the call for `approval` (ADR 0049; keys by name). */
  onFalse: z.enum(['refuse', 'require_approval']).default('refuse'),
  approval: ApprovalRuleSpec.nullable().default(null),
  /** false: log only (the condition refuses nothing; what it would have done is recorded). */
  enforce: z.boolean().default(true),
});

/** Access policies (`access-policies/<name>.yaml`): servers and API keys by name, as every reference in the files. */
export const accessPolicyFiles: WorkspaceFileKind = {
  kind: 'access_policy',
  check: conditionProblems,
  ...looseningOf('access_policy'),
  dir: 'access-policies',
  schema: PolicySpec,
  refers: (s) => [
    ...namedIn('server', 'MCP server', s.servers as string[], '/servers'),
    ...(s.principals as { type: string; value: string }[]).flatMap((p, i) =>
      p.type === 'api_key' ? [{ kind: 'api_key', name: p.value, path: `/principals/${i}/value`, what: 'API key' }] : [],
    ),
  ],
  async live(ctx) {
    const [servers, keys] = [ctx.names('server'), ctx.names('api_key')];
    const rows = await ctx.deps.db.accessPolicy.findMany(byName(ctx));
    return liveRows(ctx, 'access_policy', rows, (r) => ({
      name: r.name,
      description: r.description,
      principals: (r.principals as PolicyPrincipal[]).map((p) =>
        p.type === 'api_key' ? { type: p.type, value: keys.get(p.value) ?? p.value } : { type: p.type, value: p.value },
      ),
      servers: r.servers.map((s) => (s === '*' ? s : (servers.get(s) ?? s))),
      tools: r.tools,
      condition: r.condition,
      onFalse: r.onFalse,
      approval: approvalRuleFile(r.approval, keys),
      enforce: r.enforce,
    }));
  },
  write(c, ctx) {
    if (markerOnly(c)) return undefined;
    const s = c.desired!.spec;
    const body = {
      name: s.name,
      description: s.description,
      principals: (s.principals as { type: string; value: string }[]).map((p) =>
        p.type === 'api_key' ? { type: p.type, value: idOf(ctx, 'api_key', p.value) } : p,
      ),
      servers: (s.servers as string[]).map((n) => (n === '*' ? n : idOf(ctx, 'server', n))),
      tools: s.tools,
      condition: s.condition,
      onFalse: s.onFalse,
      enforce: s.enforce,
      ...(s.approval ? { approval: approvalRuleBody(s.approval, (key) => idOf(ctx, 'api_key', key)) } : {}),
    };
    if (c.action === 'create') return run(accessPoliciesOperations, 'createAccessPolicy', { body });
    return run(accessPoliciesOperations, 'updateAccessPolicy', { params: { id: c.live!.id }, body });
  },
  remove: (c) => run(accessPoliciesOperations, 'deleteAccessPolicy', { params: { id: c.live!.id } }),
};
