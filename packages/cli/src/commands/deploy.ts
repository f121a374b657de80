import { locateIssues } from '@toolplane/client';
import type { Command } from 'commander';
import type { Api } from './api.ts';
import { action, withJson } from './context.ts';
import { CliError, ExitCode, usageError } from './errors.ts';
import { readText, referenceFiles } from './files.ts';

/**
 * `toolplane deploy <file> --server S`: a Flower or Arazzo document (and the OpenAPI documents its
 * sources name) becomes the server's workflow tools. `--dry-run` asks the control plane to validate and
 * compile it (`?dry_run=true`): same errors, same tool names, nothing stored or changed.
 */

interface DeployInput {
  file: string;
  definition: string;
  references: { location: string; content: string }[];
  servers: Record<string, string>;
}

/** `--source-url name=https://…` flags → the deploy body's `servers` map. */
function sourceUrls(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw usageError(`--source-url wants <source name>=<URL>, got ${v}`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/** A 422 whose paths point into the workflow document: each problem placed at file:line:column. */
function located(err: unknown, input: DeployInput): unknown {
  if (!(err instanceof CliError) || err.exitCode !== ExitCode.invalid) return err;
  // Body-level problems (`/references/0/location`) are not positions in the document.
  const inDocument = !/deployment request/i.test(err.message);
  const issues = inDocument ? locateIssues(input.file, input.definition, err.issues) : err.issues;
  return new CliError(err.message, err.exitCode, { status: err.status, code: err.code, issues });
}

/** Tool names a deployment would give: names taken by the server's other (non-workflow) tools get `__workflow`. */
async function plannedNames(api: Api, server: string, names: string[]): Promise<{ url: string; tools: string[] }> {
  const s = await api.getServer(server);
  const active = await api.activeDeployment(server);
  const own = new Set(active?.tools ?? []);
  const taken = new Set((s.tools ?? []).filter((t) => !own.has(t)));
  return { url: s.url, tools: names.map((n) => (taken.has(n) ? `${n}__workflow` : n)) };
}

async function dryRun(api: Api, server: string, input: DeployInput) {
  let checked: Awaited<ReturnType<Api['validateDeployment']>>;
  try {
    checked = await api.validateDeployment(server, {
      definition: input.definition,
      references: input.references,
      servers: input.servers,
    });
  } catch (err) {
    throw located(err, input);
  }
  const planned = await plannedNames(api, server, checked.tools);
  return {
    dryRun: true,
    format: checked.format,
    server,
    url: planned.url,
    tools: planned.tools,
    warnings: checked.warnings,
  };
}

export function deployCommand(program: Command): void {
  withJson(
    program
      .command('deploy')
      .description('deploy a Flower or Arazzo document to an MCP server (one tool per flow / workflow)')
      .argument('<file>', 'the Flower 0.1 or Arazzo 1.0 document (YAML or JSON)')
      .requiredOption('--server <server>', 'MCP server name or id')
      .option('--references <dir>', 'directory of the OpenAPI documents the Arazzo sourceDescriptions name')
      .option(
        '--source-url <name=url>',
        'base URL for an Arazzo source (repeatable)',
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .option('--dry-run', 'validate and list the tools that would be created; change nothing'),
  ).action(
    action(async (ctx, [file], opts) => {
      const server = String(opts.server);
      const input: DeployInput = {
        file: file!,
        definition: readText(file!),
        references: opts.references ? referenceFiles(String(opts.references)) : [],
        servers: sourceUrls(opts.sourceUrl as string[] | undefined),
      };
      const api = ctx.api();
      if (opts.dryRun) {
        const plan = await dryRun(api, server, input);
        ctx.out.result(plan, () => [
          `dry run: ${file} is a valid ${plan.format} document; nothing was deployed`,
          `would create tools: ${plan.tools.join(', ') || '-'}`,
          `server URL: ${plan.url}`,
          ...plan.warnings.map((w) => `warning: ${w.path}: ${w.message}`),
        ]);
        return;
      }
      let result: Awaited<ReturnType<Api['deploy']>>;
      try {
        result = await api.deploy(server, {
          definition: input.definition,
          references: input.references,
          servers: input.servers,
        });
      } catch (err) {
        throw located(err, input);
      }
      const s = await api.getServer(server);
      const tools = result.changed ? result.tools : ((await api.activeDeployment(server))?.tools ?? []);
      ctx.out.result({ ...result, server: s.id, url: s.url, tools }, () => [
        result.changed
          ? `${ctx.out.green('deployed')} ${file} to ${s.name} (deployment ${result.id})`
          : `${file} is already the active deployment of ${s.name}; nothing changed`,
        `tools: ${tools.join(', ') || '-'}`,
        `server URL: ${s.url}`,
        ...result.warnings.map((w) => `warning: ${w.path}: ${w.message}`),
      ]);
    }),
  );
}
