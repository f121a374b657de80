import type { Command } from 'commander';
import type { Reachability, ReachabilityRequest } from './api.ts';
import { action, withJson, type Context } from './context.ts';
import { usageError } from './errors.ts';
import { fileOf } from './rule-files.ts';

/**
 * `toolplane rules reach --server <id|name> --tool <name> [--key <id> | --person <name> | --group <name>]
 * [--change <file> …]`: who can reach a tool, and under which conditions, without a person and with one; with
 * `--change`, what the proposed change (workspace files, as `rules backtest --file` takes them) lets through that the
 * rules now refuse (`POST /api/v1/governance/reachability`, ADR 0107, 0114, docs/governance.md "Who can reach what").
 */

type Verdict = Reachability['principals'][number]['without_person'];

function verdictText(v: Verdict): string {
  if (v.answer === 'yes') {
    const witnessed = v.witness?.session ? ` session ${JSON.stringify(v.witness.session)}` : '';
    const needs = v.needs?.length ? ` after ${v.needs.join(', ')}` : '';
    return `yes${needs}, e.g. arguments ${JSON.stringify(v.witness?.args ?? {})}${witnessed}`;
  }
  if (v.answer === 'no') return `no (${v.proof}${v.why ? `: ${v.why}` : ''})`;
  return `undecided: ${v.why}`;
}

const who = (p: Reachability['principals'][number]['principal']) =>
  p.type === 'api_key'
    ? `API key ${p.key_id}${p.key_name ? ` (${p.key_name})` : ''}`
    : `person ${p.username}${p.groups?.length ? ` (${p.groups.join(', ')})` : ''}`;

function changeLines(change: NonNullable<Reachability['change']>): string[] {
  const out = [`the change: ${change.newly_reachable.length} of ${change.asked} principals newly reach the tool`];
  for (const c of change.newly_reachable) {
    out.push(`${who(c.principal)}: newly when ${c.condition}`);
    out.push(`  without a person: ${verdictText(c.without_person)}`);
    out.push(`  with a person:    ${verdictText(c.with_person)}`);
  }
  return out;
}

function lines(r: Reachability): string[] {
  const out = [`tool ${r.tool} on ${r.server.name} (${r.server.id}): ${r.principals.length} principals, ${r.ms} ms`];
  for (const p of r.principals) {
    if (!p.granted) {
      out.push(`${who(p.principal)}: not granted`);
      continue;
    }
    out.push(`${who(p.principal)}: when ${p.condition}`);
    out.push(`  without a person: ${verdictText(p.without_person)}`);
    out.push(`  with a person:    ${verdictText(p.with_person)}`);
  }
  return r.change ? [...out, ...changeLines(r.change)] : out;
}

/** Whom to ask about: one of these options at most (none: every principal the policies name). */
const whom = [
  ['key', '--key <id>', 'only this API key', 'api_key'],
  ['person', '--person <name>', 'only this person', 'external_user'],
  ['group', '--group <name>', 'only the members of this group', 'external_group'],
] as const;

function principalOf(opts: Record<string, unknown>): ReachabilityRequest['principal'] {
  const given = whom.filter(([option]) => opts[option] !== undefined);
  if (given.length > 1) throw usageError('name at most one of --key, --person, --group');
  const [chosen] = given;
  return chosen ? { [chosen[3]]: String(opts[chosen[0]]) } : undefined;
}

async function ask(ctx: Context, opts: Record<string, unknown>): Promise<void> {
  const principal = principalOf(opts);
  const files = (opts.change as string[] | undefined)?.map(fileOf);
  const report = await ctx.api().reachability({
    server: String(opts.server),
    tool: String(opts.tool),
    ...(principal ? { principal } : {}),
    ...(files ? { change: { files } } : {}),
  });
  ctx.out.result(report, () => lines(report));
}

export function reachCommand(rules: Command): void {
  const reach = rules
    .command('reach')
    .description('who can reach a tool, under which conditions, without a person and with one')
    .requiredOption('--server <server>', 'the MCP server: its id or name')
    .requiredOption('--tool <name>', 'the tool, as callers see it');
  for (const [, flag, text] of whom) reach.option(flag, text);
  reach.option(
    '--change <path>',
    'a proposed rule as a workspace file (access-policies/, mcp-servers/): what it newly lets through (repeat for more)',
    (v: string, prev: string[] = []) => [...prev, v],
  );
  withJson(reach).action(action((ctx, _args, opts) => ask(ctx, opts)));
}
