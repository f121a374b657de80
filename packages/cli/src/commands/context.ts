import type { Command } from 'commander';
import { Api } from './api.ts';
import { loadCliEnv, resolveConnection, type CliEnv } from './config.ts';
import { createOutput, type Output } from './output.ts';

/** What every command gets: the parsed environment, its output channel and (on demand) the API. */
export interface Context {
  env: CliEnv;
  out: Output;
  /** The API with the configured connection; throws a usage error when there is none (not logged in). */
  api(): Api;
}

type Options = Record<string, unknown>;
type Handler = (ctx: Context, args: string[], opts: Options) => Promise<void>;

/**
 * Wraps a command's handler: builds its context from `--json` and the environment, and turns any error
 * into the exit code of its class (printed once, here), so handlers just throw.
 */
export function action(handler: Handler): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args.at(-1) as Command;
    const opts = command.opts<Options>();
    let out = createOutput(opts.json === true, process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '');
    try {
      const env = loadCliEnv();
      out = createOutput(opts.json === true, env.NO_COLOR !== undefined);
      let api: Api | undefined;
      const ctx: Context = { env, out, api: () => (api ??= new Api(resolveConnection(env))) };
      await handler(ctx, args.slice(0, -2) as string[], opts);
    } catch (err) {
      process.exitCode = out.error(err);
    }
  };
}

/** Adds `--json` to a leaf command (every command has it: scripts read stdout). */
export function withJson(command: Command): Command {
  return command.option('--json', 'print machine-readable JSON on stdout');
}

/** Splits repeatable / comma-separated flag values (`--tools a,b --tools c`). */
export function listOption(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}
