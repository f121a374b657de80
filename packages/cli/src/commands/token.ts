import type { Command } from 'commander';
import { resolveConnection } from './config.ts';
import { action, listOption, withJson } from './context.ts';
import { CliError, ExitCode, usageError } from './errors.ts';

/**
 * `toolplane token narrow`: a narrowed token for a sub-agent (ADR 0084, docs/identity.md "Narrowed tokens for sub-agents"), made by the
 * edge's token endpoint (RFC 8693 token exchange, `POST <edge>/oauth/token-exchange`) from the configured API key, or
 * from the key, OAuth access token or narrowed token given on stdin (`--subject-stdin`, so that it shows in no shell
 * history; `--oauth` says it is an OAuth token). The token is printed once; it can only narrow further.
 */

const GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const API_KEY = 'urn:toolplane:params:oauth:token-type:api_key';

interface NarrowOptions {
  edge: string;
  servers?: string[];
  tools?: string[];
  condition?: string;
  calls?: string;
  ttl?: string;
  actor?: string;
  subjectStdin?: boolean;
  oauth?: boolean;
}

interface Exchanged {
  access_token: string;
  expires_in: number;
  authorization_details: { token_id: string; actors: string[]; servers?: string[]; tools?: string[] }[];
}

/** `90`, `90s`, `15m`, `1h` in seconds. */
function ttlSeconds(value: string): number {
  const m = /^(\d+)\s*([smh]?)$/.exec(value.trim());
  if (!m) throw usageError(`--ttl ${value}: a number of seconds, or with s, m or h (15m, 1h)`);
  return Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600 } as const)[m[2] as '' | 's' | 'm' | 'h'];
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text.trim();
}

function detailsOf(o: NarrowOptions): Record<string, unknown> {
  const calls = o.calls === undefined ? undefined : Number(o.calls);
  if (calls !== undefined && !(Number.isInteger(calls) && calls >= 0))
    throw usageError(`--calls ${o.calls}: a whole number`);
  return {
    type: 'toolplane_delegation',
    ...(o.servers ? { servers: o.servers } : {}),
    ...(o.tools ? { tools: o.tools } : {}),
    ...(o.condition !== undefined ? { condition: o.condition } : {}),
    ...(calls !== undefined ? { calls } : {}),
    ...(o.ttl !== undefined ? { expires_in: ttlSeconds(o.ttl) } : {}),
    ...(o.actor !== undefined ? { actor: o.actor } : {}),
  };
}

/**
 * `toolplane token revoke`: RFC 7009 revocation at the edge (`POST <edge>/oauth/revoke`) of the narrowed token read
 * from stdin (never argv): it and every token narrowed from it fail on their next call. The token itself authenticates
 * (its holder gives it up), or with `--as-key` the configured API key it was narrowed from.
 */
function revokeCommand(token: Command): void {
  withJson(
    token
      .command('revoke')
      .description('revoke a narrowed token read from stdin, and every token narrowed from it (RFC 7009)')
      .requiredOption('--edge <url>', 'the edge’s URL (where the MCP servers are)')
      .option('--as-key', 'authenticate with the configured API key the token was narrowed from'),
  ).action(
    action(async (ctx, _args, opts) => {
      const o = opts as unknown as { edge: string; asKey?: boolean };
      const revoked = await readStdin();
      if (!revoked) throw usageError('the narrowed token to revoke goes on stdin');
      const headers: Record<string, string> = o.asKey ? { 'x-api-key': resolveConnection(ctx.env).apiKey } : {};
      const res = await fetch(new URL('/oauth/revoke', o.edge), {
        method: 'POST',
        headers,
        body: new URLSearchParams({ token: revoked, token_type_hint: 'access_token' }),
      });
      if (!res.ok) {
        const body = (await res.json().catch(() => ({}))) as { error?: string; error_description?: string };
        throw new CliError(
          `${body.error ?? res.status}: ${body.error_description ?? ''}`,
          res.status === 401 ? ExitCode.auth : ExitCode.internal,
        );
      }
      ctx.out.result({ revoked: true }, () => ['revoked (with every token narrowed from it)']);
    }),
  );
}

export function tokenCommand(program: Command): void {
  const token = program.command('token').description('narrowed tokens for sub-agents (RFC 8693, at the edge)');
  revokeCommand(token);
  withJson(
    token
      .command('narrow')
      .description('trade an API key (or a narrowed token) for a short-lived token of fewer rights; shown once')
      .requiredOption('--edge <url>', 'the edge’s URL (where the MCP servers are)')
      .option('--servers <ids>', 'only these MCP servers (ids; repeatable or comma-separated)', listOption)
      .option('--tools <names>', 'only these tools (repeatable or comma-separated)', listOption)
      .option('--condition <cel>', 'a condition every call must meet (CEL, as access policies: args.x, tool.name)')
      .option('--calls <n>', 'at most this many calls')
      .option('--ttl <duration>', 'lifetime: 90s, 15m, 1h (at most 1 h, never past the subject token)')
      .option('--actor <name>', 'who the token is for (its act claim; audit events and records name it)')
      .option(
        '--subject-stdin',
        'read the API key or narrowed token to narrow from stdin (default: the configured key)',
      )
      .option('--oauth', 'with --subject-stdin: it is an OAuth access token of the edge’s issuer (name --servers)'),
  ).action(
    action(async (ctx, _args, opts) => {
      const o = opts as unknown as NarrowOptions;
      const subject = o.subjectStdin ? await readStdin() : resolveConnection(ctx.env).apiKey;
      const form = new URLSearchParams({
        grant_type: GRANT_TYPE,
        subject_token: subject,
        subject_token_type: subject.startsWith('tpd_') || o.oauth ? ACCESS_TOKEN : API_KEY,
        requested_token_type: ACCESS_TOKEN,
        authorization_details: JSON.stringify([detailsOf(o)]),
      });
      const res = await fetch(new URL('/oauth/token-exchange', o.edge), { method: 'POST', body: form });
      const body = (await res.json()) as Exchanged & { error?: string; error_description?: string };
      if (!res.ok)
        throw new CliError(
          `${body.error ?? res.status}: ${body.error_description ?? ''}`,
          res.status === 400 ? ExitCode.invalid : ExitCode.internal,
        );
      const rights = body.authorization_details[0]!;
      ctx.out.result(body, () => [
        `narrowed token ${rights.token_id}, for ${body.expires_in} s`,
        `  actors   ${rights.actors.join(' → ')}`,
        `  servers  ${rights.servers?.join(', ') ?? 'as the subject'}`,
        `  tools    ${rights.tools?.join(', ') ?? 'as the subject'}`,
        `token (shown once): ${body.access_token}`,
      ]);
    }),
  );
}
