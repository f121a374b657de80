import { AuthError, ValidationError } from '@toolplane/errors';
import { credentialName, type Caller } from '../../http/auth.ts';
import { accessOf, areaNames, keyAccessOf, type Area, type AreaAccess } from '../../http/roles.ts';
import { publishWorkspaceAccess } from '../access-policies/publish.ts';
import { createApiKey } from '../api-keys/keys.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { startSessionSettings } from '../sessions/settings.ts';
import type { Input } from '../operation.ts';
import type { CreateWorkspaceBody } from './schemas.ts';

const present = (w: { id: string; organizationId: string; name: string; createdAt: Date }) => ({
  id: w.id,
  organizationId: w.organizationId,
  name: w.name,
  createdAt: w.createdAt,
});

/** Refuses (403), before the body is validated, a caller without the `admin` scope. */
export function requireAdmin({ caller }: { caller: Caller }): void {
  if (!caller.scopes.includes('admin'))
    throw new AuthError('auth.forbidden', `${credentialName(caller)} has no "admin" scope`);
}

/** `GET /workspaces`: the organization's workspaces with `admin`, else the key's own. */
export async function listWorkspaces({ db }: ControlPlaneDeps, { caller }: Input) {
  const own = await db.workspace.findUniqueOrThrow({ where: { id: caller.workspaceId } });
  const rows = caller.scopes.includes('admin')
    ? await db.workspace.findMany({
        where: { organizationId: own.organizationId },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      })
    : [own];
  return { data: rows.map(present) };
}

/** Who calls, for `GET /workspaces/current`: a person's roles and what they reach by area, a key's by its scopes. */
function you(caller: Caller) {
  const access = Object.fromEntries(
    areaNames.map((a) => [a, caller.roles ? accessOf(caller.roles, a) : keyAccessOf(caller.scopes, a)]),
  ) as Record<Area, AreaAccess>;
  return {
    kind: caller.keyId === undefined ? ('person' as const) : ('api_key' as const),
    ...(caller.subject !== undefined ? { subject: caller.subject } : {}),
    scopes: caller.scopes,
    roles: caller.roles ?? null,
    access,
  };
}

/** `GET /workspaces/current`. */
export async function currentWorkspace({ db }: ControlPlaneDeps, { caller }: Input) {
  return { ...present(await db.workspace.findUniqueOrThrow({ where: { id: caller.workspaceId } })), you: you(caller) };
}

/**
 * `POST /workspaces` (`admin`, checked before the body: `requireAdmin`): a workspace and its first key (management,
 * runtime, audit), its value shown once, and its default session settings (`startSessionSettings`).
 */
export async function createWorkspace(
  { db, publisher }: ControlPlaneDeps,
  { body: { name }, caller }: Input<CreateWorkspaceBody>,
) {
  const own = await db.workspace.findUniqueOrThrow({ where: { id: caller.workspaceId } });
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
  // A new workspace keeps sessions, its default rule in log-only mode approved by that first key (ADR 0078).
  await startSessionSettings(db, ws.id);
  await publishWorkspaceAccess(db, publisher, ws.id);
  return {
    ...present(ws),
    apiKey: { id: row.id, name: row.name, prefix: row.prefix, scopes: row.scopes, key: value },
  };
}
