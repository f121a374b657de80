import type { Command } from 'commander';
import type { ScimToken } from './api.ts';
import { action, withJson } from './context.ts';

/**
 * `toolplane scim-token create|show|delete`: the workspace's SCIM token (ADR 0062, docs/governance.md "SCIM"), the
 * bearer token its identity provider provisions people and groups with on `/scim/v2`. Its value is printed once, by
 * `create` (which replaces any earlier token); `show` gives its prefix and dates only.
 */

function tokenLines(t: ScimToken): string[] {
  return [
    `SCIM token ${t.prefix}…  (${t.id})`,
    `  endpoint   ${t.endpoint} (on the control plane)`,
    `  created    ${t.createdAt}`,
    `  last used  ${t.lastUsedAt ?? 'never'}`,
  ];
}

export function scimTokenCommand(program: Command): void {
  const scim = program
    .command('scim-token')
    .description('the workspace’s SCIM token, for the identity provider (value shown once)');

  withJson(
    scim
      .command('create')
      .description('create the SCIM token, replacing any earlier one (which stops working at once); shown once'),
  ).action(
    action(async (ctx) => {
      const api = ctx.api();
      const t = await api.createScimToken();
      ctx.out.result(t, () => [
        ...tokenLines(t),
        `token (shown once): ${t.token}`,
        `give the identity provider ${api.baseUrl}${t.endpoint} and this bearer token`,
      ]);
    }),
  );

  withJson(scim.command('show').description('show the SCIM token (its prefix and dates, never its value)')).action(
    action(async (ctx) => {
      const t = await ctx.api().getScimToken();
      ctx.out.result(t, () => tokenLines(t));
    }),
  );

  withJson(
    scim.command('delete').description('delete the SCIM token: the identity provider is refused from then on'),
  ).action(
    action(async (ctx) => {
      await ctx.api().deleteScimToken();
      ctx.out.result({ deleted: 'scim_token' }, () => [
        'SCIM token deleted: provisioning stopped (people and groups stay)',
      ]);
    }),
  );
}
