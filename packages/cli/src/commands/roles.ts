import type { Command } from 'commander';
import type { PutRoleMappingBody, RoleMapping } from './api.ts';
import { placed, readBodyFile } from './body-files.ts';
import { action, withJson } from './context.ts';

/**
 * `toolplane roles get|set|delete`: the roles of the people signed in to the workspace (ADR 0053, docs/governance.md
 * "People and roles"): which OAuth subjects and which values of a groups claim hold which roles. One mapping per
 * workspace, replaced whole by `set --file` (the body of `PUT /role_mappings`, as `role-mappings.yaml` holds it).
 */

function mappingLines(m: RoleMapping): string[] {
  if (!m.configured) return ['no role mapping: everyone signed in to the workspace is an admin (within their scopes)'];
  return [
    `groups claim  ${m.effectiveGroupsClaim}${m.groupsClaim === null ? ' (the control plane’s default)' : ''}`,
    ...(m.assignments.length === 0 ? ['no assignments: every person signed in is refused'] : []),
    ...m.assignments.map((a) =>
      a.subject !== undefined
        ? `subject ${a.subject}: ${a.roles.join(', ')}`
        : `group ${a.group}: ${a.roles.join(', ')}`,
    ),
  ];
}

export function rolesCommand(program: Command): void {
  const roles = program
    .command('roles')
    .description('the roles of the people signed in: OAuth subjects and groups → viewer, operator, admin, …');

  withJson(roles.command('get').description('show the workspace’s role mapping')).action(
    action(async (ctx) => {
      const m = await ctx.api().getRoleMapping();
      ctx.out.result(m, () => mappingLines(m));
    }),
  );

  withJson(
    roles
      .command('set')
      .description('replace the role mapping with a file (the body of PUT /role_mappings)')
      .requiredOption('--file <file>', 'JSON or YAML: groupsClaim, assignments'),
  ).action(
    action(async (ctx, _args, opts) => {
      const source = readBodyFile(String(opts.file), 'PUT /role_mappings');
      const m = await placed(source, ctx.api().putRoleMapping(source.body as PutRoleMappingBody));
      ctx.out.result(m, () => ['role mapping set', ...mappingLines(m)]);
    }),
  );

  withJson(roles.command('delete').description('remove the role mapping: everyone signed in is an admin again')).action(
    action(async (ctx) => {
      await ctx.api().deleteRoleMapping();
      ctx.out.result({ deleted: 'role_mapping' }, () => ['role mapping removed: everyone signed in is an admin again']);
    }),
  );
}
