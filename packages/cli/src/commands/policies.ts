import type { Command } from 'commander';
import type { AccessPolicyBody } from './api.ts';
import { action, listOption, withJson } from './context.ts';
import { serverIds } from './keys.ts';
import { usageError } from './errors.ts';
import { table } from './output.ts';

/** `toolplane policies list|create|delete`: access policies (allow rules; ADR 0013). */

type Principal = AccessPolicyBody['principals'][number];
const principalTypes: Principal['type'][] = ['api_key', 'oauth_subject', 'oauth_group', 'external_user'];
const isPrincipalType = (t: string): t is Principal['type'] => (principalTypes as string[]).includes(t);

/** `--principal api_key:<id>` → `{ type, value }`. */
function principal(spec: string): Principal {
  const colon = spec.indexOf(':');
  const type = spec.slice(0, colon);
  if (colon <= 0 || !isPrincipalType(type))
    throw usageError(`--principal wants <${principalTypes.join('|')}>:<value>, got ${spec}`);
  return { type, value: spec.slice(colon + 1) };
}

export function policiesCommand(program: Command): void {
  const policies = program.command('policies').description('manage access policies');

  withJson(policies.command('list').description('list access policies')).action(
    action(async (ctx) => {
      const list = await ctx.api().listPolicies();
      ctx.out.result({ data: list }, () => table(list, ['id', 'name', 'servers', 'tools']));
    }),
  );

  withJson(
    policies
      .command('create')
      .description('create an access policy')
      .requiredOption('--name <name>', 'policy name')
      .option('--description <text>', 'why it exists')
      .requiredOption(
        '--principal <type:value>',
        'who (api_key:<id>, oauth_subject:<sub>, oauth_group:<g>, external_user:<name>; repeatable)',
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .option('--servers <servers>', 'server names or ids, or * (default *)', listOption)
      .option('--tools <tools>', 'tool names, or * (default *)', listOption),
  ).action(
    action(async (ctx, _args, opts) => {
      const api = ctx.api();
      const servers = (opts.servers as string[] | undefined) ?? ['*'];
      const body: AccessPolicyBody = {
        name: String(opts.name),
        ...(opts.description ? { description: String(opts.description) } : {}),
        principals: (opts.principal as string[]).map(principal),
        servers: servers.includes('*') ? servers : await serverIds(api, servers),
        tools: (opts.tools as string[] | undefined) ?? ['*'],
      };
      const policy = await api.createPolicy(body);
      ctx.out.result(policy, () => [`created policy ${policy.name} (${policy.id})`]);
    }),
  );

  withJson(policies.command('delete').description('delete an access policy').argument('<id>', 'policy id')).action(
    action(async (ctx, [id]) => {
      await ctx.api().deletePolicy(id!);
      ctx.out.result({ deleted: id }, () => [`deleted policy ${id}`]);
    }),
  );
}
