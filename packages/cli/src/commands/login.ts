import type { Command } from 'commander';
import { Api } from './api.ts';
import { action, withJson } from './context.ts';
import { controlPlaneUrlProblem, saveConnection } from './config.ts';
import { usageError } from './errors.ts';
import { readSecret } from './prompt.ts';

/** `toolplane login --url URL`: the key from stdin or a hidden prompt, checked by a GET before it is saved. */
export function loginCommand(program: Command): void {
  withJson(
    program
      .command('login')
      .description('store the control-plane URL and an API key (read from stdin or a hidden prompt, never argv)')
      .requiredOption('--url <url>', 'control-plane base URL, e.g. https://api.toolplane.example'),
  ).action(
    action(async (ctx, _args, opts) => {
      const url = String(opts.url);
      const problem = controlPlaneUrlProblem(url);
      if (problem) throw usageError(`--url ${problem}`);
      const apiKey = await readSecret('API key: ');
      await new Api({ url, apiKey }).checkKey();
      const path = saveConnection(ctx.env, { url, apiKey });
      ctx.out.result({ url, configPath: path }, () => [`logged in to ${url} (saved in ${path})`]);
    }),
  );
}
