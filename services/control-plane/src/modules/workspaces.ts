import { ValidationError } from '@toolplane/errors';
import { type Router } from 'express';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { jsonBody } from '../http/body.ts';
import type { RuntimePublisher } from '../publisher.ts';
import { createApiKey, requireScope } from './api-keys.ts';
import { publishWorkspaceAccess } from './access-policies.ts';
import { apiRouter } from '../http/route-access.ts';

export const CreateWorkspaceBody = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,99}$/, 'must be a slug: lower-case letters, digits, - and _ (1-100 chars)'),
  })
  .strict();

const present = (w: { id: string; organizationId: string; name: string; createdAt: Date }) => ({
  id: w.id,
  organizationId: w.organizationId,
  name: w.name,
  createdAt: w.createdAt,
});

/**
 * Workspaces of the caller's organization. Everything else in the API lives inside one workspace (the
 * key's); a key with the `admin` scope may list its organization's workspaces and create new ones,
 * each created with a first management+runtime key (its value shown once). Without `admin`, a key
 * sees its own workspace only.
 */
export function workspacesRouter(db: Db, publisher: RuntimePublisher, maxBodyBytes: number): Router {
  const r = apiRouter();
  r.use(jsonBody(maxBodyBytes));

  r.get('/', async (req, res) => {
    const me = caller(req);
    const own = await db.workspace.findUniqueOrThrow({ where: { id: me.workspaceId } });
    const rows = me.scopes.includes('admin')
      ? await db.workspace.findMany({
          where: { organizationId: own.organizationId },
          orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        })
      : [own];
    res.json({ data: rows.map(present) });
  });

  r.get('/current', async (req, res) => {
    res.json(present(await db.workspace.findUniqueOrThrow({ where: { id: caller(req).workspaceId } })));
  });

  r.post('/', async (req, res) => {
    requireScope(req, 'admin');
    const { name } = CreateWorkspaceBody.parse(req.body ?? {});
    const own = await db.workspace.findUniqueOrThrow({ where: { id: caller(req).workspaceId } });
    if (
      await db.workspace.findUnique({ where: { organizationId_name: { organizationId: own.organizationId, name } } })
    ) {
      throw new ValidationError(
        'the workspace is invalid',
        [{ path: '/name', message: `a workspace named "${name}" already exists` }],
        'resource.conflict',
        409,
      );
    }
    const ws = await db.workspace.create({ data: { organizationId: own.organizationId, name } });
    // The (empty) policy document before the first key: edges deny a workspace that has none.
    await publishWorkspaceAccess(db, publisher, ws.id);
    const { row, value } = await createApiKey(db, publisher, {
      workspaceId: ws.id,
      name: 'initial',
      scopes: ['management', 'runtime'],
    });
    res.status(201).json({
      ...present(ws),
      apiKey: { id: row.id, name: row.name, prefix: row.prefix, scopes: row.scopes, key: value },
    });
  });
  return r;
}
