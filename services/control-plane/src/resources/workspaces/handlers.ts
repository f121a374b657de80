import { ValidationError } from '@toolplane/errors';
import type { Request, Response } from 'express';
import { caller } from '../../http/auth.ts';
import { publishWorkspaceAccess } from '../access-policies/publish.ts';
import { createApiKey, requireScope } from '../api-keys/keys.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { CreateWorkspaceBody } from './schemas.ts';

const present = (w: { id: string; organizationId: string; name: string; createdAt: Date }) => ({
  id: w.id,
  organizationId: w.organizationId,
  name: w.name,
  createdAt: w.createdAt,
});

/** `GET /workspaces`: the organization's workspaces with `admin`, else the key's own. */
export async function listWorkspaces({ db }: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const me = caller(req);
  const own = await db.workspace.findUniqueOrThrow({ where: { id: me.workspaceId } });
  const rows = me.scopes.includes('admin')
    ? await db.workspace.findMany({
        where: { organizationId: own.organizationId },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      })
    : [own];
  res.json({ data: rows.map(present) });
}

/** `GET /workspaces/current`. */
export async function currentWorkspace({ db }: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  res.json(present(await db.workspace.findUniqueOrThrow({ where: { id: caller(req).workspaceId } })));
}

/** `POST /workspaces` (`admin`): a workspace and its first key (management, runtime, audit), its value shown once. */
export async function createWorkspace({ db, publisher }: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  requireScope(req, 'admin');
  const { name } = CreateWorkspaceBody.parse(req.body ?? {});
  const own = await db.workspace.findUniqueOrThrow({ where: { id: caller(req).workspaceId } });
  if (await db.workspace.findUnique({ where: { organizationId_name: { organizationId: own.organizationId, name } } })) {
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
    scopes: ['management', 'runtime', 'audit'],
  });
  res.status(201).json({
    ...present(ws),
    apiKey: { id: row.id, name: row.name, prefix: row.prefix, scopes: row.scopes, key: value },
  });
}
