import type { Command } from 'commander';
import { action, withJson } from './context.ts';
import { table } from './output.ts';

/** How a disconnect's revocation went, in words. */
const revocationText: Record<string, string> = {
  revoked: 'the provider revoked the token',
  no_endpoint: 'the connector declares no revocation endpoint: the tokens were deleted here only',
  failed: 'the provider did not revoke the token; the tokens were deleted here anyway',
  not_connected: 'no tokens were stored',
};

/**
 * `toolplane users list|connections|disconnect`: the workspace's external users (the app's end users) and their
 * connections: credentials the app pushed, or their own accounts connected with a connect link (status, expiry and
 * scopes; never a token). Disconnecting an own account revokes it at the provider when it can.
 */
export function usersCommand(program: Command): void {
  const users = program.command('users').description("external users (your app's end users) and their connections");

  withJson(
    users.command('list').description('list external users and the connector instances each has connected'),
  ).action(
    action(async (ctx) => {
      const list = await ctx.api().listExternalUsers();
      ctx.out.result({ data: list }, () => table(list, ['name', 'id', 'connections', 'createdAt']));
    }),
  );

  withJson(
    users
      .command('connections')
      .description("list a user's connections: credentials (key names) and own accounts (status, expiry, scopes)")
      .argument('<USER>', 'external user name'),
  ).action(
    action(async (ctx, [name]) => {
      const list = await ctx.api().listUserConnections(name!);
      const rows = list.map((c) => ({
        ...c,
        status: c.status ?? (c.kind === 'credentials' ? 'stored' : undefined),
        details: c.kind === 'oauth' ? c.scopes : c.credential_keys,
      }));
      ctx.out.result({ data: list }, () =>
        table(rows, ['connector_instance_id', 'kind', 'status', 'expires_at', 'details']),
      );
    }),
  );

  withJson(
    users
      .command('disconnect')
      .description("end a user's connection to a connector instance (an own account is revoked at the provider)")
      .argument('<USER>', 'external user name')
      .argument('<INSTANCE_ID>', 'connector instance id'),
  ).action(
    action(async (ctx, [name, instanceId]) => {
      const ended = await ctx.api().deleteUserConnection(name!, instanceId!);
      ctx.out.result(ended ?? { connector_instance_id: instanceId, kind: 'credentials' }, () => [
        `disconnected ${name} from ${instanceId}` + (ended ? `: ${revocationText[ended.revocation]}` : ''),
      ]);
    }),
  );
}
