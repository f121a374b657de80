import type { Command } from 'commander';
import type { Api, CreateGuardrailBody, Guardrail, UpdateGuardrailBody } from './api.ts';
import { placed, readBodyFile } from './body-files.ts';
import { action, withJson } from './context.ts';
import { CliError, ExitCode, usageError } from './errors.ts';
import { table } from './output.ts';

/**
 * `toolplane guardrails list|get|create|update|delete`: guardrails on what tools return (ADR 0050, docs/governance.md
 * "Guardrails"). A guardrail is given by a JSON or YAML file holding the API's body (`--file`): its detectors, its
 * action, its scope; `--enforce` / `--log-only` switch its mode on update.
 */

/** A guardrail named by its id or its name. */
async function guardrailId(api: Api, ref: string): Promise<string> {
  const found = (await api.listGuardrails()).find((g) => g.id === ref || g.name === ref);
  if (!found) throw new CliError(`no guardrail "${ref}" in this workspace`, ExitCode.notFound);
  return found.id;
}

function guardrailLines(g: Guardrail): string[] {
  const scope = g.serverId
    ? `server ${g.serverId}${g.tools.length > 0 ? `, tools ${g.tools.join(', ')}` : ''}`
    : 'workspace';
  return [
    `${g.name}  (${g.id})${g.enforce ? '' : '  log only: changes nothing'}`,
    `  action     ${g.action}, on ${scope}`,
    `  detectors  ${g.detectors.map((d) => d.kind).join(', ')}`,
    ...(g.description ? [`  about      ${g.description}`] : []),
  ];
}

export function guardrailsCommand(program: Command): void {
  const guardrails = program
    .command('guardrails')
    .description('manage guardrails on what tools return (secrets, personal data, prompt injection, patterns)');

  withJson(guardrails.command('list').description('list the guardrails')).action(
    action(async (ctx) => {
      const list = await ctx.api().listGuardrails();
      const rows = list.map((g) => ({ ...g, detectors: g.detectors.map((d) => d.kind).join(',') }));
      ctx.out.result({ data: list }, () => table(rows, ['name', 'id', 'action', 'enforce', 'detectors', 'serverId']));
    }),
  );

  withJson(guardrails.command('get').description('show one guardrail').argument('<guardrail>', 'name or id')).action(
    action(async (ctx, [ref]) => {
      const api = ctx.api();
      const g = (await api.listGuardrails()).find((x) => x.id === ref || x.name === ref);
      if (!g) throw new CliError(`no guardrail "${ref}" in this workspace`, ExitCode.notFound);
      ctx.out.result(g, () => guardrailLines(g));
    }),
  );

  withJson(
    guardrails
      .command('create')
      .description('create a guardrail from a file (the body of POST /guardrails)')
      .requiredOption('--file <file>', 'JSON or YAML'),
  ).action(
    action(async (ctx, _args, opts) => {
      const source = readBodyFile(String(opts.file), 'POST /guardrails');
      const g = await placed(source, ctx.api().createGuardrail(source.body as CreateGuardrailBody));
      ctx.out.result(g, () => [`created guardrail ${ctx.out.bold(g.name)}`, ...guardrailLines(g)]);
    }),
  );

  withJson(
    guardrails
      .command('update')
      .description('change a guardrail: the fields of the file given replace its own')
      .argument('<guardrail>', 'name or id')
      .option('--file <file>', 'JSON or YAML: fields of PATCH /guardrails/{id}')
      .option('--enforce', 'enforce it')
      .option('--log-only', 'log only: change nothing, record what it would have done'),
  ).action(
    action(async (ctx, [ref], opts) => {
      const api = ctx.api();
      const source = opts.file !== undefined ? readBodyFile(String(opts.file), 'PATCH /guardrails/{id}') : undefined;
      if (opts.enforce && opts.logOnly) throw usageError('--enforce and --log-only exclude each other');
      const mode = opts.enforce ? { enforce: true } : opts.logOnly ? { enforce: false } : {};
      const body = { ...source?.body, ...mode };
      if (Object.keys(body).length === 0) throw usageError('nothing to update: give --file, --enforce or --log-only');
      const g = await placed(source, api.updateGuardrail(await guardrailId(api, ref!), body as UpdateGuardrailBody));
      ctx.out.result(g, () => [`updated guardrail ${ctx.out.bold(g.name)}`, ...guardrailLines(g)]);
    }),
  );

  withJson(guardrails.command('delete').description('delete a guardrail').argument('<guardrail>', 'name or id')).action(
    action(async (ctx, [ref]) => {
      const api = ctx.api();
      const id = await guardrailId(api, ref!);
      await api.deleteGuardrail(id);
      ctx.out.result({ deleted: id }, () => [`deleted guardrail ${ref} (${id})`]);
    }),
  );
}
