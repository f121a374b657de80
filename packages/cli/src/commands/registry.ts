import type { Command } from 'commander';
import { action, listOption, withJson } from './context.ts';
import { headerValues } from './external-servers.ts';
import { table } from './output.ts';

/**
 * `toolplane registry search [words…]`: the workspace's MCP Registry source (the public registry by default);
 * `toolplane registry add <name>`: one of its servers as an external MCP server. Header values come from stdin
 * (`Name=VALUE` lines) or hidden prompts, one per `--header` name, never from argv; the headers still without a
 * value are listed with the command that sets them.
 */
export function registryCommand(program: Command): void {
  const registry = program
    .command('registry')
    .description('the MCP Registry: search the workspace’s source, add a server as an external MCP server');
  withJson(
    registry
      .command('search')
      .description('search the registry’s servers by name (their latest versions)')
      .argument('[words...]', 'what the name contains; none lists the registry')
      .option('--cursor <cursor>', 'the next page (as the previous page printed it)')
      .option('--limit <n>', 'servers per page (1-100)', (v) => Number(v), 20),
  ).action(
    action(async (ctx, [words], opts) => {
      const q = (words as unknown as string[] | undefined)?.join(' ').trim();
      const page = await ctx.api().searchRegistry({
        ...(q ? { q } : {}),
        ...(typeof opts.cursor === 'string' ? { cursor: opts.cursor } : {}),
        limit: opts.limit as number,
      });
      ctx.out.result(page, () => [
        ...table(
          page.data.map((s) => ({
            ...s,
            remote: s.remote ? `${s.remote.type} ${s.remote.url}` : `- (${s.unsupported})`,
            headers: s.remote?.headers.map((h) => (h.isSecret ? `${h.name} (secret)` : h.name)) ?? [],
            added: s.externalServerId,
          })),
          ['name', 'version', 'description', 'remote', 'headers', 'added'],
        ),
        `source: ${page.source.url}` + (page.nextCursor ? `; next page: --cursor ${page.nextCursor}` : ''),
      ]);
    }),
  );

  withJson(
    registry
      .command('add')
      .description('add a registry server as an external MCP server; header values from stdin or hidden prompts')
      .argument('<name>', 'its registry name (`io.github.acme/weather`)')
      .option('--version <version>', 'a version it lists (default: latest)')
      .option('--as <slug>', 'the external server’s name (default: the part after /)')
      .option(
        '--header <name>',
        'a declared header to set (repeatable; its value is read, never an argument)',
        listOption,
      ),
  ).action(
    action(async (ctx, [name], opts) => {
      const headers = await headerValues(Array.isArray(opts.header) ? (opts.header as string[]) : []);
      const added = await ctx.api().addFromRegistry({
        name: name!,
        headers,
        ...(typeof opts.version === 'string' ? { version: opts.version } : {}),
        ...(typeof opts.as === 'string' ? { as: opts.as } : {}),
      });
      const ext = added.externalMcpServer;
      ctx.out.result(added, () => [
        `added ${added.registry.name}@${added.registry.version} as external MCP server ${ext.name} (${ext.id})`,
        `remote: ${added.remote.type} ${added.remote.url}`,
        `tools: ${ext.tools.map((t) => t.name).join(', ') || '-'}`,
        ...added.toFill.map(
          (h) =>
            `to set: ${h.name}${h.isSecret ? ' (secret)' : ''}${h.description ? ` - ${h.description}` : ''}: ` +
            `toolplane external-servers update ${ext.name} --header ${h.name}`,
        ),
      ]);
    }),
  );
}
