import type { Command } from 'commander';
import type { Reachability, ReachabilityRequest } from './api.ts';
import { action, withJson } from './context.ts';
import { usageError } from './errors.ts';

/**
 * `toolplane rules reach --server <id|name> --tool <name> [--key <id> | --person <name> | --group <name>]`: who can
 * reach a tool, and under which conditions, without a person and with one (`POST /api/v1/governance/reachability`,
 * ADR 0107, docs/governance.md "Who can reach what").
 */

type Verdict = Reachability['principals'][number]['without_person'];

function verdictText(v: Verdict): string {
  if (v.answer === 'yes') {
    const session = v.witness?.session ? ` session ${JSON.stringify(v.witness.session)}` : '';
    const needs = v.needs?.length ? ` after ${v.needs.join(', ')}` : '';
    return `yes${needs}, e.g. arguments ${JSON.stringify(v.witness?.args ?? {})}${session}`;
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

function principalOf(opts: Record<string, unknown>): ReachabilityRequest['principal'] {
  const given = (['key', 'person', 'group'] as const).filter((k) => opts[k] !== undefined);
  if (given.length > 1) throw usageError('name at most one of --key, --person, --group');
  if (opts.key !== undefined) return { api_key: String(opts.key) };
  if (opts.person !== undefined) return { external_user: String(opts.person) };
  if (opts.group !== undefined) return { external_group: String(opts.group) };
  return undefined;
}

export function reachCommand(rules: Command): void {
  withJson(
    rules
      .command('reach')
      .description('who can reach a tool, under which conditions, without a person and with one')
      .requiredOption('--server <server>', 'the MCP server: its id or name')
      .requiredOption('--tool <name>', 'the tool, as callers see it')
      .option('--key <id>', 'only this API key')
      .option('--person <name>', 'only this person')
      .option('--group <name>', 'only the members of this group'),
  ).action(
    action(async (ctx, _args, opts) => {
      const principal = principalOf(opts);
      const body = { server: String(opts.server), tool: String(opts.tool), ...(principal ? { principal } : {}) };
      const report = await ctx.api().reachability(body);
      ctx.out.result(report, () => lines(report));
    }),
  );
}
