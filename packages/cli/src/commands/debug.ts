import type { Command } from 'commander';
import { action, withJson } from './context.ts';
import { CliError, ExitCode, usageError } from './errors.ts';
import { table } from './output.ts';

/** `toolplane debug start|stop|show`: debug sessions of a server (records carry bodies while one is open). */

export function debugCommand(program: Command): void {
  const debug = program.command('debug').description('debug sessions of an MCP server');
  const serverOption = ['--server <server>', 'MCP server name or id'] as const;

  withJson(
    debug
      .command('start')
      .description('open a debug session (closes the previous one)')
      .requiredOption(...serverOption)
      .option('--minutes <n>', 'duration, 1-240 (default 60)'),
  ).action(
    action(async (ctx, _args, opts) => {
      const minutes = opts.minutes === undefined ? undefined : Number(opts.minutes);
      if (minutes !== undefined && !Number.isInteger(minutes)) throw usageError('--minutes must be an integer');
      const session = await ctx.api().startDebug(String(opts.server), minutes);
      ctx.out.result(session, () => [`debug session ${session.id} open until ${session.ends_at}`]);
    }),
  );

  withJson(
    debug
      .command('stop')
      .description('close a debug session (default: the active one)')
      .argument('[session]', 'session id')
      .requiredOption(...serverOption),
  ).action(
    action(async (ctx, [session], opts) => {
      const api = ctx.api();
      const server = String(opts.server);
      const id = session ?? (await api.listDebug(server)).find((s) => s.active)?.id;
      if (!id) throw new CliError(`no active debug session on ${server}`, ExitCode.notFound);
      await api.stopDebug(server, id);
      ctx.out.result({ closed: id }, () => [`closed debug session ${id}`]);
    }),
  );

  withJson(
    debug
      .command('show')
      .description('list the debug sessions of a server')
      .requiredOption(...serverOption),
  ).action(
    action(async (ctx, _args, opts) => {
      const list = await ctx.api().listDebug(String(opts.server));
      ctx.out.result({ data: list }, () => table(list, ['id', 'active', 'opened_at', 'ends_at', 'closed_at']));
    }),
  );
}
