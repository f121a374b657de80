import { locateIssues } from '@toolplane/client';
import type { Command } from 'commander';
import { action, withJson } from './context.ts';
import { CliError, ExitCode } from './errors.ts';
import { contentTypeOf, documentFiles, readText } from './files.ts';
import { createOutput, type Output } from './output.ts';

/** `toolplane connectors push <file|dir>`: registers descriptors / OpenAPI documents, errors at file:line:column. */

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
            process.stdout.write(
              `${ctx.out.green('pushed')} ${file}: ${connector.slug}@${connector.version} (${connector.id}), tools: ${connector.tools.join(', ') || '-'}\n`,
            );
        } catch (err) {
          results.push(failure(quiet, file, text, err));
        }
      }
      if (ctx.out.json) process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
      const failed = results.find((r) => !r.ok);
      if (failed) process.exitCode = failed.error?.exitCode ?? ExitCode.internal;
    }),
  );
}
