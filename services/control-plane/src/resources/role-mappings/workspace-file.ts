import { looseningOf } from '../change-requests/workspace-file-loosening.ts';
import { markerOnly, run, singleName, type WorkspaceFileKind } from '../workspace-files/kind.ts';
import { roleMappingsOperations } from './operations.ts';
import { PutRoleMappingBody } from './schemas.ts';

/** The role mapping's one file, and the name plans and markers give it (one per workspace). */
const roleMappingsFile = 'role-mappings.yaml';

/**
 * The workspace's role mapping (ADR 0053), one file at the directory's root: the API's body (`PUT /role_mappings`),
 * replaced whole. No file: apply leaves the mapping alone (and `--prune` deletes it, everyone signed in an admin again).
 */
export const roleMappingFiles: WorkspaceFileKind = {
  kind: 'role_mapping',
  ...looseningOf('role_mapping'),
  dir: '',
  file: roleMappingsFile,
  schema: PutRoleMappingBody,
  /** The mapping as its file holds it (`PUT /role_mappings`' body); none when it maps no roles. */
  async live({ deps, workspaceId, marker }) {
    const row = await deps.db.roleMapping.findUnique({ where: { workspaceId } });
    if (!row) return [];
    // In the order of the API's body (jsonb keeps keys in an order of its own): the subject or group, then the roles.
    const assignments = (row.assignments as { subject?: string; group?: string; roles: string[] }[]).map((a) =>
      a.subject !== undefined ? { subject: a.subject, roles: a.roles } : { group: a.group, roles: a.roles },
    );
    const spec = { groupsClaim: row.groupsClaim, assignments };
    return [
      {
        kind: 'role_mapping',
        name: singleName,
        id: workspaceId,
        spec,
        marker: marker('role_mapping', singleName),
      },
    ];
  },
  write: (c) => (markerOnly(c) ? undefined : run(roleMappingsOperations, 'putRoleMapping', { body: c.desired!.spec })),
  remove: () => run(roleMappingsOperations, 'deleteRoleMapping'),
};
