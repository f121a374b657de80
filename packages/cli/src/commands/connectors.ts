import { locateIssues } from '@toolplane/client';
import type { Command } from 'commander';
import type { Api, Connector } from './api.ts';
import { action, withJson } from './context.ts';
import { CliError, ExitCode, usageError } from './errors.ts';
import { contentTypeOf, documentFiles, readText } from './files.ts';
import { createOutput, jsonText, table, type Output } from './output.ts';

/**
 * `toolplane connectors push <file|dir>`: registers descriptors / OpenAPI documents, errors at file:line:column.
 * `connectors list`, `connectors rm <id|slug>`, `connectors curated`, `connectors add-curated <slug>`.
 */

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A connector given as its id, `slug@version` or `slug` (resolved through `GET /connectors`). A slug with
 * several registered versions is ambiguous: `newest` picks the last one registered, else it is a usage error.
 */
export async function resolveConnector(api: Api, ref: string, opts: { newest: boolean }): Promise<string> {
  if (uuid.test(ref)) return ref;
  const at = ref.lastIndexOf('@');
  const [slug, version] = at > 0 ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, undefined];
  // The list is ordered by slug, then by registration time.
  const matches = (await api.listConnectors()).filter(
    (c: Connector) => c.slug === slug && (version === undefined || c.version === version),
  );
  if (matches.length === 0) throw new CliError(`no connector ${ref} in this workspace`, ExitCode.notFound);
  if (matches.length > 1 && !opts.newest)
    throw usageError(
      `connector ${ref} has several versions (${matches.map((c) => `${c.slug}@${c.version}`).join(', ')}): ` +
        'name one as slug@version or by its id',
    );
  return matches.at(-1)!.id;
}

interface PushResult {
  file: string;
  ok: boolean;
  connector?: Record<string, unknown>;
  error?: { message: string; status?: number; code?: string; exitCode: number; errors: unknown[] };
}

/** A failure of one file: reported at once on stderr, with each problem placed in the file. */
function failure(out: Output, file: string, text: string, err: unknown): PushResult {
  if (!(err instanceof CliError)) throw err;
  const issues = locateIssues(file, text, err.issues);
  out.error(new CliError(`${file}: ${err.message}`, err.exitCode, { status: err.status, code: err.code, issues }));
  return {
    file,
    ok: false,
    error: { message: err.message, status: err.status, code: err.code, exitCode: err.exitCode, errors: issues },
  };
}

export function connectorsCommand(program: Command): void {
  const connectors = program.command('connectors').description('manage connectors');
  withJson(
    connectors
      .command('push')
      .description('register connector descriptors or OpenAPI documents (YAML or JSON)')
      .argument('<path>', 'a file, or a directory whose .yaml/.yml/.json files are pushed'),
  ).action(
    action(async (ctx, [path]) => {
      const api = ctx.api();
      const results: PushResult[] = [];
      // Errors of one file are printed as they come, without --json noise: the summary goes to stdout.
      const quiet = createOutput(false, ctx.env.NO_COLOR !== undefined);
      for (const file of documentFiles(path!)) {
        const text = readText(file);
        try {
          const connector = await api.pushConnector(text, contentTypeOf(file));
          results.push({ file, ok: true, connector });
          if (!ctx.out.json)
            ctx.out.line(
              `${ctx.out.green('pushed')} ${file}: ${connector.slug}@${connector.version} (${connector.id}), tools: ${connector.tools.join(', ') || '-'}`,
            );
        } catch (err) {
          results.push(failure(quiet, file, text, err));
        }
      }
      if (ctx.out.json) process.stdout.write(`${jsonText({ results }, 2)}\n`);
      const failed = results.find((r) => !r.ok);
      if (failed) process.exitCode = failed.error?.exitCode ?? ExitCode.internal;
    }),
  );

  withJson(connectors.command('list').description('list the registered connectors')).action(
    action(async (ctx) => {
      const list = await ctx.api().listConnectors();
      ctx.out.result({ data: list }, () =>
        table(
          list.map((c) => ({ ...c, tools: c.tools.length })),
          ['slug', 'version', 'kind', 'tools', 'id'],
        ),
      );
    }),
  );

  curatedCommands(connectors);

  withJson(
    connectors
      .command('rm')
      .description('delete a connector (refused while connector instances use it, unless --force)')
      .argument('<connector>', 'id, slug@version, or a slug with a single version')
      .option('--force', 'also delete the connector instances using it'),
  ).action(
    action(async (ctx, [ref], opts) => {
      const api = ctx.api();
      const id = await resolveConnector(api, ref!, { newest: false });
      await api.deleteConnector(id, opts.force === true);
      ctx.out.result({ deleted: id }, () => [`deleted connector ${ref === id ? id : `${ref} (${id})`}`]);
    }),
  );
}

/** `connectors curated` (the curated connectors shipped with Toolplane) and `connectors add-curated <slug>`. */
function curatedCommands(connectors: Command): void {
  withJson(connectors.command('curated').description('list the curated connectors, ready to add')).action(
    action(async (ctx) => {
      const list = await ctx.api().listCuratedConnectors();
      ctx.out.result({ data: list }, () =>
        table(
          list.map((c) => ({ ...c, tools: c.tools.length, added: c.connectorId })),
          ['slug', 'name', 'version', 'tools', 'auth', 'added'],
        ),
      );
    }),
  );

  withJson(
    connectors
      .command('add-curated')
      .description('add a curated connector to the workspace (exit 5 when added already)')
      .argument('<slug>', 'its slug, as `connectors curated` lists it')
      .option('--auth <auth>', "user_oauth: people's own accounts (default where offered); token: the provider's"),
  ).action(
    action(async (ctx, [slug], opts) => {
      const auth = opts.auth as string | undefined;
      if (auth !== undefined && auth !== 'user_oauth' && auth !== 'token')
        throw usageError(`--auth must be user_oauth or token (got "${auth}")`);
      const connector = await ctx.api().addCuratedConnector(slug!, auth);
      ctx.out.result(connector, () => [
        `added ${connector.slug}@${connector.version} (${connector.id}), tools: ${connector.tools.join(', ')}`,
      ]);
    }),
  );
}
