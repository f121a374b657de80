import { apiKeyScopes } from '@toolplane/contracts';
import { z } from 'zod';
import { looseningOf } from '../change-requests/workspace-file-loosening.ts';
import { hashApiKey } from '../../http/auth.ts';
import { idOf, liveRows, namedIn, Names, run, type WorkspaceFileKind } from '../workspace-files/kind.ts';
import { apiKeysOperations } from './operations.ts';

const KeySpec = z.strictObject({
  name: z.string().min(1),
  scopes: z.array(z.enum(apiKeyScopes)).min(1),
  /** Server names; null: every server of the workspace. */
  servers: Names.nullable().default(null),
});

/**
 * API keys (`api-keys/<name>.yaml`): the workspace's keys, but the platform's bootstrap key (BOOTSTRAP_API_KEY): the
 * deployment's, not the workspace's, it is never exported, planned or pruned (docs/gitops.md). A key's value is shown
 * once, in apply's answer.
 */
export const apiKeyFiles: WorkspaceFileKind = {
  kind: 'api_key',
  ...looseningOf('api_key'),
  dir: 'api-keys',
  schema: KeySpec,
  refers: (s) => namedIn('server', 'MCP server', s.servers as string[] | null, '/servers'),
  async live(ctx) {
    const bootstrap = ctx.deps.env.BOOTSTRAP_API_KEY;
    const serverNames = ctx.names('server');
    const rows = await ctx.deps.db.apiKey.findMany({
      where: {
        workspaceId: ctx.workspaceId,
        revokedAt: null,
        ...(bootstrap ? { hash: { not: hashApiKey(bootstrap) } } : {}),
      },
      orderBy: [{ name: 'asc' }, { createdAt: 'asc' }],
    });
    return liveRows(ctx, 'api_key', rows, (r) => ({
      name: r.name,
      scopes: r.scopes,
      servers: r.serverIds.length > 0 ? r.serverIds.map((id) => serverNames.get(id) ?? id) : null,
    }));
  },
  write(c, ctx) {
    const s = c.desired!.spec;
    const serverIds = s.servers ? (s.servers as string[]).map((n) => idOf(ctx, 'server', n)) : null;
    if (c.action === 'create')
      return run(apiKeysOperations, 'createApiKey', {
        body: { name: s.name, scopes: s.scopes, ...(serverIds ? { serverIds } : {}) },
      });
    if (!c.fields.includes('servers')) return undefined;
    return run(apiKeysOperations, 'updateApiKey', { params: { id: c.live!.id }, body: { serverIds } });
  },
  remove: (c) => run(apiKeysOperations, 'revokeApiKey', { params: { id: c.live!.id } }),
};
