import type { Command } from 'commander';
import type { Reachability, ReachabilityRequest } from './api.ts';
import { action, withJson, type Context } from './context.ts';
import { usageError } from './errors.ts';

/**
 * `toolplane rules reach --server <id|name> --tool <name> [--key <id> | --person <name> | --group <name>]`: who can
 * reach a tool, and under which conditions, without a person and with one (`POST /api/v1/governance/reachability`,
 * ADR 0107, docs/governance.md "Who can reach what").
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

function lines(r: Reachability): string[] {
  const out = [`tool ${r.tool} on ${r.server.name} (${r.server.id}): ${r.principals.length} principals, ${r.ms} ms`];
  for (const p of r.principals) {
    const who =
      p.principal.type === 'api_key'
        ? `API key ${p.principal.key_id}${p.principal.key_name ? ` (${p.principal.key_name})` : ''}`
        : `person ${p.principal.username}${p.principal.groups?.length ? ` (${p.principal.groups.join(', ')})` : ''}`;
    if (!p.granted) {
      out.push(`${who}: not granted`);
      continue;
    }
    out.push(`${who}: when ${p.condition}`);
    out.push(`  without a person: ${verdictText(p.without_person)}`);
    out.push(`  with a person:    ${verdictText(p.with_person)}`);
  }
  return out;
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
  const report = await ctx
    .api()
    .reachability({ server: String(opts.server), tool: String(opts.tool), ...(principal ? { principal } : {}) });
  ctx.out.result(report, () => lines(report));
}

export function reachCommand(rules: Command): void {
  const reach = rules
    .command('reach')
    .description('who can reach a tool, under which conditions, without a person and with one')
    .requiredOption('--server <server>', 'the MCP server: its id or name')
    .requiredOption('--tool <name>', 'the tool, as callers see it');
  for (const [, flag, text] of whom) reach.option(flag, text);
  withJson(reach).action(action((ctx, _args, opts) => ask(ctx, opts)));
}
