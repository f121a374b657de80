import { type Command, InvalidArgumentError } from 'commander';
import type { Api, CreateQuotaBody, Quota, UpdateQuotaBody } from './api.ts';
import { placed, readBodyFile, type BodyFile } from './body-files.ts';
import { action, listOption, withJson } from './context.ts';
import { CliError, ExitCode, usageError } from './errors.ts';
import { table } from './output.ts';

/**
 * `toolplane quotas list|get|create|update|delete`: quotas and budgets (ADR 0048, docs/governance.md "Quotas and
 * budgets"). A quota is given by flags, or by a JSON or YAML file holding the API's body (`--file`; flags given with it
 * replace its fields). Its match names servers and API keys by name or id (the CLI sends their ids) and people by name.
 */

type Body = Record<string, unknown> & { match?: Record<string, unknown> };
type Options = Record<string, unknown>;

/** A quota's file: the API's body as written, and its text (the API's problems are placed at file:line:column). */
function readBody(file: string): BodyFile & { body: Body } {
  return readBodyFile(file, 'POST /quotas') as BodyFile & { body: Body };
}

const integer = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('must be a whole number');
  return n;
};

/** `--claim groups=support`: the caller's token claim `groups` holds (or contains) `support`. */
const claim = (value: string, previous: { claim: string; contains: string }[] = []) => {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`wants <claim>=<value>, got ${value}`);
  return [...previous, { claim: value.slice(0, eq), contains: value.slice(eq + 1) }];
};

/** The match flags, and the field of `match` each fills. */
const matchFlags = [
  ['servers', 'servers'],
  ['keys', 'apiKeys'],
  ['people', 'people'],
  ['subjects', 'subjects'],
  ['claim', 'claims'],
  ['tools', 'tools'],
] as const;

/** The fields the flags give (only those given); `none` clears a window or `per` on update. */
function flagBody(opts: Options): Body {
  const body: Body = {};
  for (const field of ['name', 'description', 'counts', 'limit', 'timeZone'] as const)
    if (opts[field] !== undefined) body[field] = opts[field];
  for (const field of ['window', 'per'] as const)
    if (opts[field] !== undefined) body[field] = opts[field] === 'none' ? null : opts[field];
  if (opts.shadow === true && opts.enforce === true) throw usageError('give --shadow or --enforce, not both');
  if (opts.shadow === true || opts.enforce === true) body.enforce = opts.enforce === true;
  const match: Record<string, unknown> = {};
  for (const [flag, field] of matchFlags) if (opts[flag] !== undefined) match[field] = opts[flag];
  if (Object.keys(match).length > 0) body.match = match;
  return body;
}

/** The match with servers and API keys given by name as their ids (an unknown one is left for the API to name). */
async function withIds(api: Api, body: Body): Promise<Body> {
  const match = body.match;
  if (!match || (!Array.isArray(match.servers) && !Array.isArray(match.apiKeys))) return body;
  const ids = (list: unknown, known: { id: string; name: string }[]) =>
    (list as unknown[]).map((v) => known.find((k) => k.id === v)?.id ?? known.find((k) => k.name === v)?.id ?? v);
  const resolved = { ...match };
  if (Array.isArray(match.servers)) resolved.servers = ids(match.servers, await api.listServers());
  if (Array.isArray(match.apiKeys))
    resolved.apiKeys = ids(
      match.apiKeys,
      (await api.listKeys()).filter((k) => !k.revokedAt),
    );
  return { ...body, match: resolved };
}

/** The body of a create or an update: the file's fields, the flags' over them. */
async function bodyOf(api: Api, opts: Options): Promise<{ body: Body; source?: ReturnType<typeof readBody> }> {
  const source = opts.file !== undefined ? readBody(String(opts.file)) : undefined;
  const body = await withIds(api, { ...source?.body, ...flagBody(opts) });
  return { body, ...(source ? { source } : {}) };
}

/** A quota named by its id or its name. */
async function quotaId(api: Api, ref: string): Promise<string> {
  const found = (await api.listQuotas()).find((q) => q.id === ref || q.name === ref);
  if (!found) throw new CliError(`no quota "${ref}" in this workspace`, ExitCode.notFound);
  return found.id;
}

function quotaLines(q: Quota): string[] {
  const counts = q.counts === 'in_flight' ? 'calls in flight' : `${q.counts} per ${q.window} (${q.timeZone ?? 'UTC'})`;
  return [
    `${q.name}  (${q.id})${q.enforce ? '' : '  shadow: refuses nothing'}`,
    `  limit  ${q.limit} ${counts}${q.per ? `, each ${q.per}` : ''}`,
    `  match  ${JSON.stringify(q.match)}`,
    ...(q.description ? [`  about  ${q.description}`] : []),
  ];
}

function fieldOptions(command: Command): Command {
  return command
    .option('--file <path>', 'the quota as a YAML or JSON file of the API’s body (flags given replace its fields)')
    .option('--name <name>', 'quota name')
    .option('--description <text>', 'why it exists')
    .option('--counts <what>', 'calls, cost (units) or in_flight')
    .option('--limit <n>', 'how many in a window (in_flight: at once)', integer)
    .option('--window <window>', 'minute, hour, day or month (calls and cost; none: no window)')
    .option('--time-zone <zone>', 'the IANA time zone of the window (default UTC)')
    .option('--per <who>', 'a counter per api_key, person or subject (none: one shared counter)')
    .option('--shadow', 'shadow mode: refuse nothing, record what would be refused')
    .option('--enforce', 'refuse calls past the limit (the default)')
    .option('--servers <servers>', 'match: server names or ids (repeatable)', listOption)
    .option('--keys <keys>', 'match: API key names or ids (repeatable)', listOption)
    .option('--people <names>', 'match: external users by name (repeatable)', listOption)
    .option('--subjects <subs>', 'match: OAuth subjects (repeatable)', listOption)
    .option('--claim <claim=value>', 'match: a token claim holding or containing the value (repeatable)', claim)
    .option('--tools <tools>', 'match: tool names or patterns with * (repeatable)', listOption);
}

export function quotasCommand(program: Command): void {
  const quotas = program
    .command('quotas')
    .description('manage quotas and budgets (calls, cost units, calls in flight)');

  withJson(quotas.command('list').description('list the quotas')).action(
    action(async (ctx) => {
      const list = await ctx.api().listQuotas();
      ctx.out.result({ data: list }, () => table(list, ['name', 'id', 'counts', 'limit', 'window', 'per', 'enforce']));
    }),
  );

  withJson(quotas.command('get').description('show one quota').argument('<quota>', 'name or id')).action(
    action(async (ctx, [ref]) => {
      const api = ctx.api();
      const q = await api.getQuota(await quotaId(api, ref!));
      ctx.out.result(q, () => quotaLines(q));
    }),
  );

  withJson(fieldOptions(quotas.command('create').description('create a quota from flags or a file'))).action(
    action(async (ctx, _args, opts) => {
      const api = ctx.api();
      const { body, source } = await bodyOf(api, opts);
      const q = await placed(source, api.createQuota(body as CreateQuotaBody));
      ctx.out.result(q, () => [`created quota ${ctx.out.bold(q.name)}`, ...quotaLines(q)]);
    }),
  );

  withJson(
    fieldOptions(
      quotas
        .command('update')
        .description('change a quota: the fields given replace its own (match flags replace its whole match)')
        .argument('<quota>', 'name or id'),
    ),
  ).action(
    action(async (ctx, [ref], opts) => {
      const api = ctx.api();
      const { body, source } = await bodyOf(api, opts);
      if (Object.keys(body).length === 0) throw usageError('nothing to update: give a file or at least one option');
      const q = await placed(source, api.updateQuota(await quotaId(api, ref!), body as UpdateQuotaBody));
      ctx.out.result(q, () => [`updated quota ${ctx.out.bold(q.name)}`, ...quotaLines(q)]);
    }),
  );

  withJson(quotas.command('delete').description('delete a quota').argument('<quota>', 'name or id')).action(
    action(async (ctx, [ref]) => {
      const api = ctx.api();
      const id = await quotaId(api, ref!);
      await api.deleteQuota(id);
      ctx.out.result({ deleted: id }, () => [`deleted quota ${ref} (${id})`]);
    }),
  );
}
