import type { Command } from 'commander';
import type { AccessExplanation, AccessExplanationRequest, AccessPolicyBody } from './api.ts';
import { action, listOption, withJson } from './context.ts';
import { serverIds } from './keys.ts';
import { usageError } from './errors.ts';
import { table } from './output.ts';

/** `toolplane policies list|create|delete|explain`: access policies (allow rules; ADR 0013). */

type Principal = AccessPolicyBody['principals'][number];
const principalTypes: Principal['type'][] = [
  'api_key',
  'oauth_subject',
  'oauth_group',
  'external_user',
  'external_group',
];
const isPrincipalType = (t: string): t is Principal['type'] => (principalTypes as string[]).includes(t);

/** `--principal api_key:<id>` → `{ type, value }`. */
function principal(spec: string): Principal {
  const colon = spec.indexOf(':');
  const type = spec.slice(0, colon);
  if (colon <= 0 || !isPrincipalType(type))
    throw usageError(`--principal wants <${principalTypes.join('|')}>:<value>, got ${spec}`);
  return { type, value: spec.slice(colon + 1) };
}

/** A JSON object flag (`--claims`, `--args`), else a usage error naming the flag. */
function jsonObject(flag: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(String(value));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw usageError(`${flag} must be a JSON object`);
}

/** The caller `--key`, `--subject` (with `--claims`, `--groups`) and `--user` name. */
function explainedCaller(opts: Record<string, unknown>): AccessExplanationRequest['caller'] {
  if (opts.key !== undefined && opts.subject !== undefined) throw usageError('give --key or --subject, not both');
  if (opts.key === undefined && opts.subject === undefined && opts.user === undefined)
    throw usageError('name the caller: --key <id>, --subject <sub> or --user <id|name>');
  if ((opts.claims !== undefined || opts.groups !== undefined) && opts.subject === undefined)
    throw usageError('--claims and --groups go with --subject');
  const claims = jsonObject('--claims', opts.claims);
  return {
    ...(opts.key !== undefined ? { api_key: String(opts.key) } : {}),
    ...(opts.subject !== undefined ? { oauth_subject: String(opts.subject) } : {}),
    ...(claims ? { claims } : {}),
    ...(opts.groups !== undefined ? { groups: opts.groups as string[] } : {}),
    ...(opts.user !== undefined ? { external_user: String(opts.user) } : {}),
  };
}

/** An explanation as text: the decision and its reason, then a row per policy. */
function explanationLines(e: AccessExplanation, paint: (allowed: boolean, s: string) => string): string[] {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const condition = (c: AccessExplanation['policies'][number]['condition']) =>
    !c ? '-' : c.result === null ? 'not evaluated' : c.error ? 'error' : String(c.result);
  const rows = e.policies.map((p) => ({
    policy: p.name,
    caller: yes(p.principals_match),
    server: yes(p.covers_server),
    tool: yes(p.covers_tool),
    condition: condition(p.condition),
    why: p.why,
  }));
  return [
    `${paint(e.decision === 'allow', e.decision.toUpperCase())}  ${e.caller} → tool ${e.tool} on ${e.server.name} (${e.server.id})`,
    e.reason,
    '',
    ...(rows.length > 0
      ? table(rows, ['policy', 'caller', 'server', 'tool', 'condition', 'why'])
      : ['(no access policies)']),
    ...e.policies.flatMap((p) => (p.condition ? [`${p.name}: ${p.condition.expression}`] : [])),
    ...(e.guardrails.length > 0
      ? [
          '',
          ...table(
            e.guardrails.map((g) => ({ guardrail: g.name, enforced: yes(g.enforce), why: g.why })),
            ['guardrail', 'enforced', 'why'],
          ),
        ]
      : []),
  ];
}

export function policiesCommand(program: Command): void {
  const policies = program.command('policies').description('manage access policies');

  withJson(policies.command('list').description('list access policies')).action(
    action(async (ctx) => {
      const list = await ctx.api().listPolicies();
      ctx.out.result({ data: list }, () => table(list, ['id', 'name', 'servers', 'tools']));
    }),
  );

  withJson(
    policies
      .command('create')
      .description('create an access policy')
      .requiredOption('--name <name>', 'policy name')
      .option('--description <text>', 'why it exists')
      .requiredOption(
        '--principal <type:value>',
        'who (api_key:<id>, oauth_subject:<sub>, oauth_group:<g>, external_user:<name>, external_group:<SCIM group>; repeatable)',
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .option('--servers <servers>', 'server names or ids, or * (default *)', listOption)
      .option('--tools <tools>', 'tool names, or * (default *)', listOption),
  ).action(
    action(async (ctx, _args, opts) => {
      const api = ctx.api();
      const servers = (opts.servers as string[] | undefined) ?? ['*'];
      const body: AccessPolicyBody = {
        name: String(opts.name),
        ...(opts.description ? { description: String(opts.description) } : {}),
        principals: (opts.principal as string[]).map(principal),
        servers: servers.includes('*') ? servers : await serverIds(api, servers),
        tools: (opts.tools as string[] | undefined) ?? ['*'],
      };
      const policy = await api.createPolicy(body);
      ctx.out.result(policy, () => [`created policy ${policy.name} (${policy.id})`]);
    }),
  );

  withJson(policies.command('delete').description('delete an access policy').argument('<id>', 'policy id')).action(
    action(async (ctx, [id]) => {
      await ctx.api().deletePolicy(id!);
      ctx.out.result({ deleted: id }, () => [`deleted policy ${id}`]);
    }),
  );

  withJson(
    policies
      .command('explain')
      .description('explain the access decision for a caller, a tool and arguments')
      .option('--key <id>', 'the caller: an API key id')
      .option('--subject <sub>', 'the caller: an OAuth subject')
      .option('--claims <json>', "with --subject: the token's claims (a JSON object)")
      .option('--groups <groups>', "with --subject: the token's groups (default: the groups claim)", listOption)
      .option('--user <id|name>', 'the external user the caller acts as (alone: as a key no policy names)')
      .requiredOption('--server <server>', 'server name or id')
      .requiredOption('--tool <name>', 'tool name')
      .option('--args <json>', "the call's arguments (a JSON object)"),
  ).action(
    action(async (ctx, _args, opts) => {
      const args = jsonObject('--args', opts.args);
      const e = await ctx.api().explainPolicies({
        caller: explainedCaller(opts),
        server: String(opts.server),
        tool: String(opts.tool),
        ...(args ? { arguments: args } : {}),
      });
      const paint = (allowed: boolean, s: string) => (allowed ? ctx.out.green(s) : ctx.out.red(s));
      ctx.out.result(e, () => explanationLines(e, paint));
    }),
  );
}
