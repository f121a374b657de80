import { z } from 'zod';
import { byName, liveRows, run, type WorkspaceFileKind } from '../workspace-files/kind.ts';
import { externalUsersOperations } from './operations.ts';

const UserSpec = z.strictObject({
  name: z.string().min(1),
  attributes: z.record(z.string(), z.string()).default({}),
});

/** External users (`external-users/<name>.yaml`): a name and its attributes. */
export const externalUserFiles: WorkspaceFileKind = {
  kind: 'external_user',
  dir: 'external-users',
  schema: UserSpec,
  async live(ctx) {
    const rows = await ctx.deps.db.externalUser.findMany(byName(ctx));
    return liveRows(ctx, 'external_user', rows, (r) => ({ name: r.name, attributes: r.attributes }));
  },
  write(c) {
    const s = c.desired!.spec;
    if (c.action === 'create')
      return run(externalUsersOperations, 'createExternalUser', { body: { name: s.name, attributes: s.attributes } });
    if (!c.fields.includes('attributes')) return undefined;
    return run(externalUsersOperations, 'updateExternalUser', {
      params: { name: c.name },
      body: { attributes: s.attributes },
    });
  },
  remove: (c) => run(externalUsersOperations, 'deleteExternalUser', { params: { name: c.name } }),
};
