import type { Command } from 'commander';
import type { Api, CuratedConnector, CuratedSetup } from './api.ts';
import { action, type Context, listOption, withJson } from './context.ts';
import { usageError } from './errors.ts';
import { table } from './output.ts';
import { readCredentials } from './prompt.ts';

/**
 * `toolplane catalog search [words…] [--category c]`: the API catalog (APIs.guru) by words and category;
 * `toolplane catalog add <id> [--slug s]`: one of its APIs as an OpenAPI connector; a curated connector's slug
 * (`slack`) sets it up in one step: the connector, an instance and its server with `--tools` (docs/cli.md).
 */

type CuratedAuth = 'user_oauth' | 'token';

/** A curated connector in one step: credentials from stdin (`KEY=VALUE` lines) or hidden prompts, never argv. */
async function setupCurated(api: Api, curated: CuratedConnector, opts: Record<string, unknown>): Promise<CuratedSetup> {
  const auth = (typeof opts.auth === 'string' ? opts.auth : curated.auth[0]) as CuratedAuth;
  if (!curated.auth.includes(auth)) throw usageError(`--auth must be one of: ${curated.auth.join(', ')}`);
  const fields = (curated.credentials[auth] ?? []).map((key) => ({ key, required: true }));
  const credentials = fields.length > 0 ? await readCredentials(fields) : {};
  const tools = Array.isArray(opts.tools) ? (opts.tools as string[]) : undefined;
  return api.setupCuratedConnector(curated.slug, {
    auth,
    credentials,
    ...(typeof opts.name === 'string' ? { name: opts.name } : {}),
    ...(typeof opts.baseUrl === 'string' ? { base_url: opts.baseUrl } : {}),
    ...(tools && tools.length > 0 ? { tools } : {}),
  });
}

function printSetup(ctx: Context, curated: CuratedConnector, setup: CuratedSetup): void {
  ctx.out.result(setup, () => [
    `${curated.name}: connector ${curated.slug}@${setup.connector.version} ${setup.connector.added ? 'added' : '(already added)'}`,
    `instance ${setup.instance.name} (${setup.instance.id})`,
    ...(setup.server ? [`server ${setup.server.name}: ${setup.server.url}`] : []),
  ]);
}

const positive = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw usageError(`${name} must be a positive integer`);
  return n;
};

export function catalogCommand(program: Command): void {
  const catalog = program
    .command('catalog')
    .description('the API catalog (APIs.guru): search it, add an API as a connector');
  withJson(
    catalog
      .command('search')
      .description('search the catalog by words (title, provider, category, description) and category')
      .argument('[words...]', 'what to look for; none lists the catalog (by title)')
      .option('--category <name>', 'only APIs of this category (financial, developer_tools, …)')
      .option('--limit <n>', 'APIs per page (1-100)', positive('--limit'), 20)
      .option('--page <n>', 'page number', positive('--page'), 1),
  ).action(
    action(async (ctx, [words], opts) => {
      const q = (words as unknown as string[] | undefined)?.join(' ').trim();
      const page = await ctx.api().searchApiCatalog({
        ...(q ? { q } : {}),
        ...(typeof opts.category === 'string' ? { category: opts.category } : {}),
        limit: opts.limit as number,
        page: opts.page as number,
      });
      ctx.out.result(page, () => [
        ...table(
          page.data.map((a) => ({ ...a, added: a.connectorId })),
          ['id', 'title', 'categories', 'version', 'added'],
        ),
        `${page.pagination.total} API${page.pagination.total === 1 ? '' : 's'}` +
          (page.pagination.total > page.data.length ? ` (page ${page.pagination.page}; --page for more)` : ''),
      ]);
    }),
  );

  withJson(
    catalog
      .command('add')
      .description('add an API of the catalog as an OpenAPI connector (its security schemes become credential fields)')
      .argument(
        '<id>',
        'the catalog id, as `search` shows it (`1password.com:events`), or a curated connector (`slack`)',
      )
      .option('--slug <slug>', 'the connector slug (another one adds a second copy)')
      .option('--tools <names>', 'curated: the tools its server exposes (comma-separated; default: all)', listOption)
      .option('--auth <kind>', 'curated: user_oauth (people connect their own accounts) or token')
      .option('--name <name>', 'curated: the instance name (default: the slug)')
      .option('--base-url <url>', 'curated: where the provider’s API is, when not its public address'),
  ).action(
    action(async (ctx, [id], opts) => {
      const api = ctx.api();
      const curated = (await api.listCuratedConnectors()).find((c) => c.slug === id);
      if (curated) return printSetup(ctx, curated, await setupCurated(api, curated, opts));
      const connector = await api.addFromApiCatalog(id!, typeof opts.slug === 'string' ? opts.slug : undefined);
      const fields = connector.kind === 'openapi' ? connector.credentialFields.map((f) => f.key) : [];
      ctx.out.result(connector, () => [
        `added ${id} as connector ${connector.slug}@${connector.version} (${connector.id})`,
        `tools: ${connector.tools.join(', ') || '-'}`,
        `credential fields: ${fields.join(', ') || 'none'}`,
        `next: toolplane instances create --connector ${connector.slug}@${connector.version} --name <name>`,
      ]);
    }),
  );
}
