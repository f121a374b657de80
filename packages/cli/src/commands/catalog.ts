import type { Command } from 'commander';
import { action, withJson } from './context.ts';
import { usageError } from './errors.ts';
import { table } from './output.ts';

/**
 * `toolplane catalog search [words…] [--category c]`: the API catalog (APIs.guru) by words and category;
 * `toolplane catalog add <id> [--slug s]`: one of its APIs as an OpenAPI connector (docs/cli.md).
 */

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
      .argument('<id>', 'the catalog id, as `search` shows it (`1password.com:events`)')
      .option('--slug <slug>', 'the connector slug (another one adds a second copy)'),
  ).action(
    action(async (ctx, [id], opts) => {
      const connector = await ctx.api().addFromApiCatalog(id!, typeof opts.slug === 'string' ? opts.slug : undefined);
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
