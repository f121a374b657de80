import type { Command } from 'commander';
import { action, withJson } from './context.ts';
import { usageError } from './errors.ts';
import { table } from './output.ts';
import { readSecret } from './prompt.ts';

/**
 * `toolplane secrets set|list|rm`: a server's workflow secrets (`--server`) or the workspace's. The value
 * is read from stdin or a hidden prompt and is never printed, echoed or accepted on the command line.
 */

const secretName = /^[A-Za-z0-9_-]{1,128}$/;

function checkName(name: string): string {
  if (!secretName.test(name)) throw usageError(`secret name ${name}: letters, digits, _ and - only (1 to 128)`);
  return name;
}

const scopeLabel = (server: unknown) => (server ? `server ${String(server)}` : 'the workspace');

export function secretsCommand(program: Command): void {
  const secrets = program.command('secrets').description('manage secrets (values are write-only)');
  const serverOption = ['--server <server>', 'MCP server name or id (default: workspace secrets)'] as const;

  withJson(
    secrets
      .command('set')
      .description('create or rotate a secret; the value comes from stdin or a hidden prompt')
      .argument('<NAME>', 'secret name ($secrets.NAME in workflows)')
      .option(...serverOption),
  ).action(
    action(async (ctx, [name], opts) => {
      checkName(name!);
      const value = await readSecret(`value of ${name}: `);
      const meta = await ctx.api().putSecret(opts.server as string | undefined, name!, value);
      ctx.out.result(meta, () => [`set ${name} on ${scopeLabel(opts.server)} (version ${meta.version})`]);
    }),
  );

  withJson(
    secrets
      .command('list')
      .description('list secret names (never values)')
      .option(...serverOption),
  ).action(
    action(async (ctx, _args, opts) => {
      const list = await ctx.api().listSecrets(opts.server as string | undefined);
      ctx.out.result({ data: list }, () => table(list, ['name', 'scope', 'version', 'updated_at']));
    }),
  );

  withJson(
    secrets
      .command('rm')
      .description('delete a secret')
      .argument('<NAME>', 'secret name')
      .option(...serverOption),
  ).action(
    action(async (ctx, [name], opts) => {
      await ctx.api().deleteSecret(opts.server as string | undefined, checkName(name!));
      ctx.out.result({ deleted: name }, () => [`deleted ${name} from ${scopeLabel(opts.server)}`]);
    }),
  );
}
