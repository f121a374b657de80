import { Option, type Command } from 'commander';
import type { ExternalServer, ExternalServerChange } from './api.ts';
import { action, type Context, listOption, withJson } from './context.ts';
import { usageError } from './errors.ts';
import { table } from './output.ts';
import { readCredentials } from './prompt.ts';

/**
 * `toolplane external-servers …`: external MCP servers registered on the workspace
 * (`/api/v1/external_mcp_servers`), used by name from any server (`servers create|update --external-server`).
 * Header values are secrets: they come from stdin (`Name=VALUE` lines) or hidden prompts, one per
 * `--header` name, never from argv, and are never printed (answers carry header names only).
 */

function lines(e: ExternalServer): string[] {
  return [
    `${e.name}  (${e.id})`,
    `  url      ${e.url}`,
    `  headers  ${e.headerNames.join(', ') || '-'}`,
    `  tools    ${e.tools.map((t) => t.name).join(', ') || '-'}`,
    ...(e.listError ? [`  last listing failed: ${e.listError}`] : []),
    `  used by  ${e.usedBy.map((s) => s.name).join(', ') || '-'}`,
    e.autoAccept
      ? '  changes  published at once (autoAccept)'
      : `  changes  held for review; meanwhile ${e.onChange === 'withhold' ? 'withheld' : 'the pinned version is served'}`,
    ...(e.notifyWebhookUrl ? [`  notify   ${e.notifyWebhookUrl}`] : []),
    ...(!e.autoAccept && e.heldChanges > 0
      ? [`  held     ${e.heldChanges} change(s): external-servers review ${e.name}`]
      : []),
  ];
}

const shown = (value: unknown): string => (value === null ? '-' : JSON.stringify(value));

/** A held change and its diff, field by field. */
function changeLines(server: string, c: ExternalServerChange): string[] {
  return [
    `${server}  ${c.kind} ${c.name}  ${c.change}  (${c.id}, held ${c.heldAt})`,
    ...c.fields.flatMap((f) => [`  ${f.field}`, `    - ${shown(f.before)}`, `    + ${shown(f.after)}`]),
  ];
}

/** `review`: the held changes of one server (or of every one holding some), or one decided by its id. */
async function review(ctx: Context, server: string | undefined, opts: Record<string, unknown>) {
  const api = ctx.api();
  const names = server
    ? [server]
    : (await api.listExternalServers()).filter((e) => e.heldChanges > 0).map((e) => e.name);
  const held = await Promise.all(
    names.map(async (name) => ({ name, changes: await api.listExternalServerChanges(name) })),
  );
  const [decision, id] =
    opts.accept !== undefined
      ? (['accept', String(opts.accept)] as const)
      : (['reject', opts.reject as string | undefined] as const);
  if (id === undefined) {
    ctx.out.result({ data: held }, () => {
      const out = held.flatMap(({ name, changes }) => changes.flatMap((c) => changeLines(name, c)));
      return out.length > 0 ? out : ['no changes held for review'];
    });
    return;
  }
  const owner = held.find((h) => h.changes.some((c) => c.id === id));
  if (!owner) throw usageError(`no held change ${id}${server ? ` on ${server}` : ''}`);
  const decided = await api.decideExternalServerChange(owner.name, id, decision);
  ctx.out.result(decided, () => [`${decided.decision} ${decided.kind} ${decided.name} of ${owner.name}`]);
}

/** The values of the headers named by `--header`, read from stdin or prompted (nothing is read without one). */
export async function headerValues(names: string[]): Promise<Record<string, string>> {
  if (names.length === 0) return {};
  const values = await readCredentials(names.map((key) => ({ key, required: true })));
  const unknown = Object.keys(values).filter((k) => !names.includes(k));
  if (unknown.length > 0) throw usageError(`stdin names headers not given with --header: ${unknown.join(', ')}`);
  const missing = names.filter((n) => values[n] === undefined);
  if (missing.length > 0) throw usageError(`no value on stdin for --header ${missing.join(', ')}`);
  return values;
}

/** The review flags of add and update (ADR 0061); `--no-notify-webhook-url` clears the URL. */
function reviewOptions(command: Command): Command {
  return command
    .option('--auto-accept', 'publish every change it lists at once, without review')
    .option('--no-auto-accept', 'hold changes of what it offers for review (the default of a new server)')
    .addOption(
      new Option(
        '--on-change <mode>',
        'while a change is held: serve the pinned version, or withhold the item',
      ).choices(['keep_pinned', 'withhold']),
    )
    .option('--notify-webhook-url <url>', 'POST the changes each refresh holds to this URL (a worker sends them)')
    .option('--no-notify-webhook-url', 'notify no webhook');
}

/** The review settings the flags give (only those given). */
function reviewBody(opts: Record<string, unknown>) {
  const hook = opts.notifyWebhookUrl;
  return {
    ...(opts.autoAccept !== undefined ? { autoAccept: opts.autoAccept === true } : {}),
    ...(opts.onChange !== undefined ? { onChange: opts.onChange as 'keep_pinned' | 'withhold' } : {}),
    ...(hook !== undefined ? { notifyWebhookUrl: hook === false ? null : String(hook) } : {}),
  };
}

export function externalServersCommand(program: Command): void {
  const ext = program
    .command('external-servers')
    .alias('external')
    .description('manage the external MCP servers registered on the workspace (header values are write-only)');

  withJson(ext.command('list').description('list the registered external MCP servers')).action(
    action(async (ctx) => {
      const list = await ctx.api().listExternalServers();
      ctx.out.result({ data: list }, () =>
        table(
          list.map((e) => ({ ...e, tools: e.tools.map((t) => t.name), usedBy: e.usedBy.map((s) => s.name) })),
          ['name', 'id', 'url', 'headerNames', 'tools', 'usedBy'],
        ),
      );
    }),
  );

  const add = withJson(
    ext
      .command('add')
      .description('register an external MCP server; header values from stdin as Name=VALUE lines, or hidden prompts')
      .requiredOption('--name <slug>', 'the name servers use it by')
      .requiredOption('--url <url>', 'its MCP endpoint (Streamable HTTP, or legacy HTTP+SSE)')
      .option('--header <name>', 'a header sent to it (repeatable; its value is read, never an argument)', listOption),
  );
  reviewOptions(add).action(
    action(async (ctx, _args, opts) => {
      const headers = await headerValues((opts.header as string[] | undefined) ?? []);
      const body = { name: String(opts.name), url: String(opts.url), headers, ...reviewBody(opts) };
      const e = await ctx.api().createExternalServer(body);
      ctx.out.result(e, () => [`registered ${ctx.out.bold(e.name)}`, ...lines(e)]);
    }),
  );

  withJson(
    ext.command('get').description('show a registered external MCP server').argument('<server>', 'name or id'),
  ).action(
    action(async (ctx, [server]) => {
      const e = await ctx.api().getExternalServer(server!);
      ctx.out.result(e, () => lines(e));
    }),
  );

  const update = withJson(
    ext
      .command('update')
      .description('change a registered external MCP server field by field (the headers not named keep their values)')
      .argument('<server>', 'name or id')
      .option('--name <slug>', 'rename')
      .option('--url <url>', 'a new URL')
      .option('--header <name>', 'set this header (repeatable; its value is read, never an argument)', listOption)
      .option('--remove-header <name>', 'remove this header (repeatable)', listOption),
  );
  reviewOptions(update).action(
    action(async (ctx, [server], opts) => {
      const set = await headerValues((opts.header as string[] | undefined) ?? []);
      const removed = (opts.removeHeader as string[] | undefined) ?? [];
      const headers: Record<string, string | null> = { ...set };
      for (const name of removed) headers[name] = null;
      const body = {
        ...(opts.name !== undefined ? { name: String(opts.name) } : {}),
        ...(opts.url !== undefined ? { url: String(opts.url) } : {}),
        ...(Object.keys(headers).length > 0 ? { headers } : {}),
        ...reviewBody(opts),
      };
      if (Object.keys(body).length === 0) throw usageError('nothing to update: give at least one option');
      const e = await ctx.api().updateExternalServer(server!, body);
      ctx.out.result(e, () => [`updated ${ctx.out.bold(e.name)}`, ...lines(e)]);
    }),
  );

  reviewCommand(ext);

  withJson(
    ext
      .command('rm')
      .description('unregister an external MCP server (exit 5 while servers use it)')
      .argument('<server>', 'name or id'),
  ).action(
    action(async (ctx, [server]) => {
      await ctx.api().deleteExternalServer(server!);
      ctx.out.result({ deleted: server }, () => [`unregistered ${server}`]);
    }),
  );
}

/** `external-servers review [<server>] [--accept <id> | --reject <id>]` (ADR 0061). */
function reviewCommand(ext: Command): void {
  withJson(
    ext
      .command('review')
      .description('list the changes held for review with their diff, or accept / reject one by its id')
      .argument('[server]', 'name or id (default: every server holding changes)')
      .option('--accept <id>', 'pin this change and publish it')
      .option('--reject <id>', 'keep the pinned definition'),
  ).action(
    action(async (ctx, [server], opts) => {
      if (opts.accept !== undefined && opts.reject !== undefined)
        throw usageError('give --accept or --reject, not both');
      await review(ctx, server, opts);
    }),
  );
}
