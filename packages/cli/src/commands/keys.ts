import type { Command } from 'commander';
import type { Api, CreateApiKeyBody } from './api.ts';
import { action, listOption, withJson } from './context.ts';
import { table } from './output.ts';

/** `toolplane keys create|list|revoke`: API keys of the workspace. */

/** The API wants server ids; users give names or ids. */
export async function serverIds(api: Api, servers: string[]): Promise<string[]> {
  return Promise.all(servers.map(async (s) => (await api.getServer(s)).id));
}

export function keysCommand(program: Command): void {
  const keys = program.command('keys').description('manage API keys');

  withJson(
    keys
      .command('create')
      .description('create an API key (its value is shown once)')
      .requiredOption('--name <name>', 'key name')
      .option(
        '--scope <scopes>',
        'management, runtime, admin, server_admin, audit, approve (comma-separated, repeatable)',
        listOption,
      )
      .option('--server <servers>', 'limit the key to these MCP servers (names or ids; repeatable)', listOption),
  ).action(
    action(async (ctx, _args, opts) => {
      const api = ctx.api();
      const body: CreateApiKeyBody = { name: String(opts.name) };
      // Unknown scopes are the control plane's to refuse (422, with the allowed values).
      if (opts.scope) body.scopes = opts.scope as CreateApiKeyBody['scopes'];
      if (opts.server) body.serverIds = await serverIds(api, opts.server as string[]);
      const key = await api.createKey(body);
      ctx.out.result(key, () => [
        `created key ${key.name} (${key.id}), scopes ${key.scopes.join(', ')}`,
        `key (shown once): ${key.key}`,
      ]);
    }),
  );

  withJson(keys.command('list').description('list API keys (never their values)')).action(
    action(async (ctx) => {
      const list = await ctx.api().listKeys();
      ctx.out.result({ data: list }, () =>
        table(list, ['id', 'name', 'prefix', 'scopes', 'serverIds', 'lastUsedAt', 'revokedAt']),
      );
    }),
  );

  withJson(keys.command('revoke').description('revoke an API key').argument('<id>', 'key id')).action(
    action(async (ctx, [id]) => {
      await ctx.api().revokeKey(id!);
      ctx.out.result({ revoked: id }, () => [`revoked ${id}`]);
    }),
  );
}
