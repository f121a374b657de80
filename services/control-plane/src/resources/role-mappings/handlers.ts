import type { RoleAssignment, RoleMappingSettings } from '../../http/roles.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import type { PutRoleMappingBody } from './schemas.ts';

type Row = { groupsClaim: string | null; assignments: unknown; updatedAt: Date } | null;

/** The mapping as the API shows it; a workspace without one makes everyone signed in an admin. */
function present(row: Row, defaultGroupsClaim: string) {
  const settings: RoleMappingSettings = row
    ? { groupsClaim: row.groupsClaim, assignments: row.assignments as RoleAssignment[] }
    : { groupsClaim: null, assignments: [] };
  return {
    configured: row !== null,
    groupsClaim: settings.groupsClaim,
    effectiveGroupsClaim: settings.groupsClaim ?? defaultGroupsClaim,
    assignments: settings.assignments,
    updatedAt: row?.updatedAt ?? null,
  };
}

const select = { groupsClaim: true, assignments: true, updatedAt: true } as const;

/** `GET /role_mappings`. */
export async function getRoleMapping({ db, env }: ControlPlaneDeps, { caller }: Input) {
  const row = await db.roleMapping.findUnique({ where: { workspaceId: caller.workspaceId }, select });
  return present(row, env.OAUTH_GROUPS_CLAIM);
}

/** `PUT /role_mappings`: replaces the workspace's mapping (its audit event carries the mapping before and after). */
export async function putRoleMapping({ db, env }: ControlPlaneDeps, { caller, body }: Input<PutRoleMappingBody>) {
  // Stored in the form the API reads back: an assignment names its subject or group, then its roles.
  const assignments = body.assignments.map((a) =>
    a.subject !== undefined ? { subject: a.subject, roles: a.roles } : { group: a.group!, roles: a.roles },
  );
  const data = { groupsClaim: body.groupsClaim, assignments };
  const row = await db.roleMapping.upsert({
    where: { workspaceId: caller.workspaceId },
    create: { workspaceId: caller.workspaceId, ...data },
    update: data,
    select,
  });
  return present(row, env.OAUTH_GROUPS_CLAIM);
}

/** `DELETE /role_mappings`: back to no mapping (everyone signed in is an admin); 204 when there was none too. */
export async function deleteRoleMapping({ db }: ControlPlaneDeps, { caller }: Input): Promise<void> {
  const where = { workspaceId: caller.workspaceId };
  if (await db.roleMapping.findUnique({ where, select: { workspaceId: true } })) await db.roleMapping.delete({ where });
}
