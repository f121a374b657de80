import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import type { LeastPrivilege, LeastPrivilegeQuery } from './api.ts';
import { action, withJson } from './context.ts';
import { usageError } from './errors.ts';

/**
 * `toolplane least-privilege show|propose`: grants never used, the narrowest policies and peak quotas per API key and
 * person (`GET /api/v1/least_privilege`); one principal's proposal written as workspace files for
 * `toolplane workspace plan|apply` (`GET /api/v1/least_privilege/proposal`).
 */

function queryOf(opts: Record<string, unknown>): LeastPrivilegeQuery {
  const margin = opts.margin === undefined ? undefined : Number(opts.margin);
  if (margin !== undefined && !(margin >= 1)) throw usageError('--margin must be a number, at least 1');
  return {
    ...(opts.from ? { from: String(opts.from) } : {}),
    ...(opts.to ? { to: String(opts.to) } : {}),
    ...(margin !== undefined ? { margin } : {}),
    ...(opts.principal ? { principal: String(opts.principal) } : {}),
  };
}

function lines(r: LeastPrivilege): string[] {
  const out = [`${r.period.from} → ${r.period.to} (margin ${r.margin})`];
  if (r.principals.length === 0) out.push('  (no calls in the period)');
  for (const e of r.principals) {
    const used = e.used.servers.flatMap((s) => s.tools.filter((t) => t.calls > 0).map((t) => `${s.name}/${t.tool}`));
    out.push(`${e.principal.type} ${e.principal.name}: ${e.calls} calls, ${e.refused} refused`);
    out.push(`  used: ${used.join(', ') || '(none)'}`);
    out.push(`  never used: ${e.unused.tools.map((t) => `${t.serverName}/${t.tool}`).join(', ') || '(none)'}`);
    for (const q of e.quotas) out.push(`  quota per ${q.window}: peak ${q.peak} → limit ${q.quota.limit}`);
    for (const f of e.findings) out.push(`  finding: ${f.serverName}/${f.tool} ${f.detector} (${f.on}) × ${f.calls}`);
  }
  if (r.truncated) out.push('(more principals than shown: narrow the period or name one)');
  return out;
}

const periodOptions = (c: Command) =>
  c
    .option('--from <date>', 'the period’s start, ISO 8601 (default: 7 days before --to)')
    .option('--to <date>', 'the period’s end, excluded (default: now)')
    .option('--margin <n>', 'proposed quotas: the peak × this, rounded up (default 1.5)');

export function leastPrivilegeCommands(program: Command): void {
  const lp = program
    .command('least-privilege')
    .description('grants never used, the narrowest policies and peak quotas, from the records of a period');
  withJson(
    periodOptions(lp.command('show').description('per API key and person: granted, used, unused, proposals')).option(
      '--principal <p>',
      'only api_key:<key id> or external_user:<name>',
    ),
  ).action(
    action(async (ctx, _args, opts) => {
      const report = await ctx.api().getLeastPrivilege(queryOf(opts));
      ctx.out.result(report, () => lines(report));
    }),
  );
  withJson(
    periodOptions(
      lp
        .command('propose')
        .description('write one principal’s proposal as workspace files (then: toolplane workspace plan|apply <dir>)')
        .requiredOption('--principal <p>', 'api_key:<key id> or external_user:<name>')
        .requiredOption('--dir <dir>', 'the directory the files are written to'),
    ),
  ).action(
    action(async (ctx, _args, opts) => {
      const proposal = await ctx
        .api()
        .getLeastPrivilegeProposal({ ...queryOf(opts), principal: String(opts.principal) });
      const dir = String(opts.dir);
      for (const f of proposal.files) {
        const path = join(dir, ...f.path.split('/'));
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, f.content);
      }
      ctx.out.result({ dir, files: proposal.files.map((f) => f.path), notes: proposal.notes }, () => [
        `wrote ${proposal.files.length} files to ${dir}`,
        ...proposal.files.map((f) => `  ${f.path}`),
        ...proposal.notes.map((n) => `note: ${n}`),
      ]);
    }),
  );
}
