import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { CliError, ExitCode } from './errors.ts';

/**
 * The CLI's configuration: the environment (parsed once, here only) and the login file
 * `$XDG_CONFIG_HOME/toolplane/config.json`. `TOOLPLANE_URL` / `TOOLPLANE_API_KEY` win over the file, so CI
 * needs no `login` and never writes the key to disk.
 */

const emptyAsUndefined = (v: unknown) => (v === '' ? undefined : v);

/**
 * What is wrong with a control-plane URL, if anything: it must be http(s) and carry no credentials
 * (`https://user:<key>@host`): the key belongs in TOOLPLANE_API_KEY or `login`'s prompt, never in a URL that
 * error messages, logs and shell history show. The messages never repeat the value.
 */
export function controlPlaneUrlProblem(value: string): string | undefined {
  if (!URL.canParse(value)) return 'must be a URL';
  const url = new URL(value);
  if (url.username !== '' || url.password !== '')
    return 'must not contain credentials (user:password@): pass the API key in TOOLPLANE_API_KEY or to `toolplane login`';
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http(s) URL';
  return undefined;
}

/** A zod string that is a control-plane URL (`name` names it in the message). */
const controlPlaneUrl = (name: string) =>
  z.string().superRefine((value, ctx) => {
    const problem = controlPlaneUrlProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `${name} ${problem}` });
  });

const CliEnv = z.object({
  TOOLPLANE_URL: z.preprocess(emptyAsUndefined, controlPlaneUrl('TOOLPLANE_URL').optional()),
  TOOLPLANE_API_KEY: z.preprocess(emptyAsUndefined, z.string().min(1).optional()),
  XDG_CONFIG_HOME: z.preprocess(emptyAsUndefined, z.string().optional()),
  NO_COLOR: z.preprocess(emptyAsUndefined, z.string().optional()),
});
export type CliEnv = z.infer<typeof CliEnv>;

const StoredConfig = z.object({ url: controlPlaneUrl('url'), apiKey: z.string().min(1) });
type StoredConfig = z.infer<typeof StoredConfig>;

/** Reads the environment once; a malformed `TOOLPLANE_URL` is a usage error, not a crash later. */
export function loadCliEnv(env: NodeJS.ProcessEnv = process.env): CliEnv {
  const parsed = CliEnv.safeParse(env);
  if (!parsed.success) throw new CliError(parsed.error.issues.map((i) => i.message).join('; '), ExitCode.usage);
  return parsed.data;
}

/** Where `login` stores the URL and key (XDG base directory spec; `~/.config` when unset). */
function configPath(env: CliEnv): string {
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'toolplane', 'config.json');
}

function readStored(path: string): Partial<StoredConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = StoredConfig.partial().safeParse(json);
  if (!parsed.success)
    throw new CliError(`${path} is not a valid toolplane configuration: run \`toolplane login\` again`, ExitCode.usage);
  return parsed.data;
}

/** The control plane to talk to: environment first, then the login file; missing parts are a usage error. */
export function resolveConnection(env: CliEnv): { url: string; apiKey: string } {
  const stored = readStored(configPath(env));
  const url = env.TOOLPLANE_URL ?? stored.url;
  const apiKey = env.TOOLPLANE_API_KEY ?? stored.apiKey;
  if (!url || !apiKey)
    throw new CliError(
      'not logged in: run `toolplane login --url <control plane URL>` or set TOOLPLANE_URL and TOOLPLANE_API_KEY',
      ExitCode.auth,
    );
  return { url, apiKey };
}

/**
 * Saves the login: directory 0700, file 0600, written to a temporary file first and renamed, so the key
 * is never readable by others, not even for a moment, and a crash leaves the old file intact.
 */
export function saveConnection(env: CliEnv, config: StoredConfig): string {
  const path = configPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  chmodSync(dirname(path), 0o700);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return path;
}
