import { z } from 'zod';
import { roleNames } from '../../http/roles.ts';

const name = z.string().min(1).max(256);

/** One assignment: a subject's or a group's roles (exactly one of the two). */
export const RoleAssignment = z
  .strictObject({
    subject: name.optional().describe('An OAuth subject (the token’s `sub`).'),
    group: name.optional().describe('A value of the groups claim.'),
    roles: z
      .array(z.enum(roleNames))
      .min(1)
      .refine((roles) => new Set(roles).size === roles.length, 'names a role twice'),
  })
  .superRefine((a, ctx) => {
    if ((a.subject === undefined) === (a.group === undefined))
      ctx.addIssue({ code: 'custom', message: 'names either a subject or a group', path: [] });
  })
  .meta({ id: 'RoleAssignment' });

export const PutRoleMappingBody = z.strictObject({
  groupsClaim: z
    .string()
    .min(1)
    .max(128)
    .nullable()
    .default(null)
    .describe('The token claim listing a person’s groups; null: the control plane’s `OAUTH_GROUPS_CLAIM`.'),
  assignments: z
    .array(RoleAssignment)
    .max(1000)
    .superRefine((assignments, ctx) => {
      const seen = new Set<string>();
      assignments.forEach((a, i) => {
        const key = a.subject !== undefined ? `subject ${a.subject}` : `group ${a.group}`;
        if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `${key} is assigned twice`, path: [i] });
        seen.add(key);
      });
    }),
});

export type PutRoleMappingBody = z.output<typeof PutRoleMappingBody>;
