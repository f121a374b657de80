import { z } from 'zod';
import { audited, json, noContent, problems } from '../../openapi/registry.ts';
import { fourEyes } from '../change-requests/four-eyes.ts';
import { del, get, put, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { PutRoleMappingBody, RoleAssignment } from './schemas.ts';

const RoleMapping = z
  .strictObject({
    configured: z
      .boolean()
      .describe('false: the workspace maps no roles, and everyone the issuer signs in to it is an admin.'),
    groupsClaim: z.string().nullable(),
    effectiveGroupsClaim: z.string().describe('The claim read: `groupsClaim`, else `OAUTH_GROUPS_CLAIM`.'),
    assignments: z.array(RoleAssignment),
    updatedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'RoleMapping' });

const tags = ['role-mappings'];
const audit = (verb: string) => audited(`role_mapping.${verb}`);

/**
 * The roles of the people signed in to the workspace (docs/governance.md "People and roles"): which OAuth subjects
 * and which values of a groups claim hold `viewer`, `operator`, `admin`, `auditor` or `approver`. One mapping per
 * workspace, replaced whole; each change is an audit event with the mapping before and after. API keys have no
 * roles (their scopes decide). Giving anyone a role, or removing the mapping, waits for approval under four eyes.
 */
export const roleMappingsOperations: Operation[] = fourEyes('role_mapping', [
  get('/role_mappings', 'getRoleMapping', {
    tags,
    summary: 'Get the workspace’s role mapping',
    responses: { 200: json('The mapping (`configured: false` when there is none).', RoleMapping), ...problems(403) },
    handler: handlers.getRoleMapping,
  }),
  put('/role_mappings', 'putRoleMapping', {
    'x-audit': audit('update'),
    tags,
    summary: 'Set the workspace’s role mapping',
    description:
      'Replaces the mapping: a person then holds every role assigned to their subject or to a group their token’s ' +
      'groups claim names, and nothing else (no role: every operation but signing in is refused). 422 lists every ' +
      'problem (an unknown role, an assignment naming both or neither of subject and group, one assigned twice).',
    responses: { 200: json('The mapping.', RoleMapping), ...problems(403, 413, 415) },
    body: PutRoleMappingBody.meta({ id: 'PutRoleMappingBody' }),
    handler: handlers.putRoleMapping,
  }),
  del('/role_mappings', 'deleteRoleMapping', {
    'x-audit': audit('delete'),
    tags,
    summary: 'Remove the workspace’s role mapping (everyone signed in is an admin again)',
    responses: { 204: noContent, ...problems(403) },
    handler: handlers.deleteRoleMapping,
  }),
]);
