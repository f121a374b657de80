import type { Command } from 'commander';
import type { ExternalUser } from './api.ts';
import { action, withJson } from './context.ts';
import { parseLimit } from './records.ts';
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
    users
      .command('list')
      .description('list external users, oldest first, and the connector instances each has connected')
      .option('--limit <n>', 'one page of this many (1-200); without it or --cursor, every user')
      .option('--cursor <cursor>', 'the page after this one (the `next_cursor` a page printed)'),
  ).action(
    action(async (ctx, _args, opts) => {
      const api = ctx.api();
      const onePage = opts.limit !== undefined || opts.cursor !== undefined;
      const cursor = typeof opts.cursor === 'string' ? opts.cursor : undefined;
      const print = (list: ExternalUser[], next: string | null) =>
        ctx.out.result({ data: list, ...(onePage ? { next_cursor: next } : {}) }, () => [
          ...table(list, ['name', 'id', 'connections', 'createdAt']),
          ...(onePage && next ? [`next page: --cursor ${next}`] : []),
        ]);
      if (onePage) {
        const page = await api.listExternalUsers({ limit: parseLimit(opts.limit), ...(cursor ? { cursor } : {}) });
        return print(page.data, page.next_cursor);
      }
      const list: ExternalUser[] = [];
      for (let next: string | null | undefined; next !== null;) {
        const page = await api.listExternalUsers({ limit: 200, ...(next ? { cursor: next } : {}) });
        list.push(...page.data);
        next = page.next_cursor;
      }
      print(list, null);
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
