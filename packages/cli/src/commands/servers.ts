import type { Command } from 'commander';
import type { CreateServerBody, Server } from './api.ts';
import { action, listOption, withJson } from './context.ts';
import { usageError } from './errors.ts';
import { table } from './output.ts';

/** `toolplane servers …`: the MCP servers of the workspace (`/api/v1/mcp_manager`); a server is a name or an id. */

function serverLines(s: Server): string[] {
  return [
    `${s.name}  (${s.id})`,
    `  mode   ${s.mode}`,
    `  url    ${s.url}`,
    `  tools  ${(s.tools ?? []).join(', ') || '-'}`,
    ...s.externalMcpServers.map((e) => `  external server ${e.name}  ${e.url}`),
    ...(s.warnings ?? []).map((w) => `  warning: ${w}`),
  ];
}

function parseConfig(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(String(value));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw usageError('--config must be a JSON object');
}

/** The body fields shared by create and update, from the flags actually given. */
function serverFields(opts: Record<string, unknown>): Partial<CreateServerBody> {
  const body: Partial<CreateServerBody> = {};
  if (opts.name !== undefined) body.name = String(opts.name);
  if (opts.description !== undefined) body.description = String(opts.description);
  // An unknown mode is the control plane's to refuse (422, with the allowed values).
  if (opts.mode !== undefined) body.mode = String(opts.mode).toUpperCase() as CreateServerBody['mode'];
  if (opts.connector !== undefined) body.connectorInstanceId = String(opts.connector);
  if (opts.tools !== undefined) body.selectedTools = opts.tools as string[];
  if (opts.public !== undefined) body.isPublic = opts.public === true;
  if (opts.perRequestAuth !== undefined) body.perRequestAuth = opts.perRequestAuth === true;
  if (opts.codeMode !== undefined) body.codeMode = opts.codeMode === true;
  const config = parseConfig(opts.config);
  if (config) body.config = config;
  if (opts.externalServer !== undefined) body.externalMcpServers = externalServers(opts.externalServer as string[]);
  else if (opts.externalServers === false) body.externalMcpServers = [];
  return body;
}

/** Each `--external-server` value as given (commas belong to its tool list). */
const eachValue = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `--external-server name` or `name:tool,tool` (only those tools): registered external MCP servers to use. */
function externalServers(values: string[]): NonNullable<CreateServerBody['externalMcpServers']> {
  return values.map((value) => {
    const colon = value.indexOf(':');
    if (colon < 0) return { name: value.trim(), tools: [] };
    const tools = value
      .slice(colon + 1)
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    return { name: value.slice(0, colon).trim(), tools };
  });
}

function fieldOptions(command: Command): Command {
  return command
    .option('--description <text>', 'what the server is for (MCP instructions)')
    .option('--mode <mode>', 'SMART or NORMAL')
    .option('--connector <instance-id>', 'NORMAL: serve this connector instance’s tools')
    .option('--tools <names>', 'selected tool names (comma-separated, repeatable)', listOption)
    .option('--public', 'callable without a key')
    .option('--no-public', 'private (the default)')
    .option('--per-request-auth', 'callers may pass their own upstream credential (X-Upstream-Authorization)')
    .option('--no-per-request-auth', 'the stored credentials only (the default)')
    .option('--code-mode', 'NORMAL: list run_code beside the tools (code mode)')
    .option('--no-code-mode', 'NORMAL: no run_code (the default)')
    .option('--config <json>', 'free-form server config (JSON object)')
    .option(
      '--external-server <name[:tool,…]>',
      'use a registered external MCP server, optionally only those tools (repeatable; replaces the list on update)',
      eachValue,
    )
    .option('--no-external-servers', 'update: stop using every registered external MCP server');
}

export function serversCommand(program: Command): void {
  const servers = program.command('servers').description('manage MCP servers');

  withJson(servers.command('list').description('list the MCP servers')).action(
    action(async (ctx) => {
      const list = await ctx.api().listServers();
      ctx.out.result({ data: list }, () => table(list, ['name', 'id', 'mode', 'url']));
    }),
  );

  withJson(
    fieldOptions(
      servers.command('create').description('create an MCP server').requiredOption('--name <slug>', 'server name'),
    ),
  ).action(
    action(async (ctx, _args, opts) => {
      const server = await ctx.api().createServer({ name: String(opts.name), ...serverFields(opts) });
      ctx.out.result(server, () => [`created ${ctx.out.bold(server.name)}`, ...serverLines(server)]);
    }),
  );

  withJson(servers.command('get').description('show one MCP server').argument('<server>', 'name or id')).action(
    action(async (ctx, [server]) => {
      const s = await ctx.api().getServer(server!);
      ctx.out.result(s, () => serverLines(s));
    }),
  );

  withJson(
    fieldOptions(
      servers
        .command('update')
        .description('change an MCP server')
        .argument('<server>', 'name or id')
        .option('--name <slug>', 'rename'),
    ),
  ).action(
    action(async (ctx, [server], opts) => {
      const body = serverFields(opts);
      if (Object.keys(body).length === 0) throw usageError('nothing to update: give at least one option');
      const s = await ctx.api().updateServer(server!, body);
      ctx.out.result(s, () => [`updated ${ctx.out.bold(s.name)}`, ...serverLines(s)]);
    }),
  );

  withJson(servers.command('delete').description('delete an MCP server').argument('<server>', 'name or id')).action(
    action(async (ctx, [server]) => {
      await ctx.api().deleteServer(server!);
      ctx.out.result({ deleted: server }, () => [`deleted ${server}`]);
    }),
  );
}
