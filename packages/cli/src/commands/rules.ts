import type { Command } from 'commander';
import type { Backtest } from './api.ts';
import { action, withJson } from './context.ts';
import { usageError } from './errors.ts';
import { reachCommand } from './reach.ts';
import { fileOf } from './rule-files.ts';

/**
 * `toolplane rules backtest --file <folder>/<name>.yaml … --from … --to …`: a proposed change of the rules (workspace
 * files: `access-policies/`, `quotas/`, `guardrails/`, `mcp-servers/`, `session.yaml`) tried on the recorded calls of a
 * period (`POST /api/v1/governance/backtest`, ADR 0080). Each file is sent as `<its folder>/<its name>`, its kind
 * (`session.yaml` as it is: the directory's root).
 */

const changeNames = {
  newlyRefused: 'newly refused',
  newlyHeld: 'newly held for approval',
  newlyAllowed: 'newly allowed',
  newlyAskedToConfirm: 'newly asked to confirm',
  chargedDifferently: 'charged differently',
  newFindings: 'new guardrail findings',
  unjudged: 'not judged (no arguments kept)',
} as const;

function lines(r: Backtest): string[] {
  const c = r.calls;
  const out = [
    `${r.period.from} → ${r.period.to}: ${c.replayed} calls replayed` +
      (c.truncated ? ` (cut at ${c.limit}: the period holds more)` : '') +
      (c.withoutArguments > 0 ? `, ${c.withoutArguments} without arguments` : ''),
  ];
  for (const [k, name] of Object.entries(changeNames)) {
    const change = r.changes[k as keyof typeof changeNames];
    if (change.calls === 0) continue;
    const through = change.fromArguments
      ? ` (${change.fromArguments} through their arguments: counted, not named)`
      : '';
    out.push(`${name}: ${change.calls}${through}`);
    for (const [dim, label] of [
      ['byKey', 'key'],
      ['byPerson', 'person'],
      ['byTool', 'tool'],
      ['byDay', 'day'],
    ] as const)
      for (const v of change[dim].slice(0, 10))
        out.push(
          `  ${label} ${v.value ?? '(none)'}: ${v.calls}` +
            (v.examples.length ? ` (e.g. ${v.examples.join(', ')})` : ''),
        );
  }
  for (const x of r.reasons) out.push(`reason: ${x.change} ${x.code}${x.rule ? ` (${x.rule})` : ''} × ${x.calls}`);
  for (const f of r.findings) out.push(`finding: ${f.guardrail} ${f.detector} ${f.action} × ${f.calls}`);
  if (out.length === 1) out.push('no call would be judged differently');
  return out;
}

export function rulesCommands(program: Command): void {
  const rules = program.command('rules').description('try changes of the rules before they apply');
  withJson(
    rules
      .command('backtest')
      .description('replay the recorded calls of a period through a proposed change (nothing is called or changed)')
      .requiredOption(
        '--file <path>',
        'a rule as a workspace file, in a folder access-policies/, quotas/ or guardrails/ (repeat for more)',
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .requiredOption('--from <date>', 'the period’s start, ISO 8601 date-time')
      .requiredOption('--to <date>', 'the period’s end, excluded')
      .option('--max-calls <n>', 'the most calls replayed (default and most 200000)'),
  ).action(
    action(async (ctx, _args, opts) => {
      const maxCalls = opts.maxCalls === undefined ? undefined : Number(opts.maxCalls);
      if (maxCalls !== undefined && !(Number.isInteger(maxCalls) && maxCalls >= 1))
        throw usageError('--max-calls must be a whole number, at least 1');
      const files = (opts.file as string[]).map(fileOf);
      const report = await ctx.api().backtest({
        files,
        from: String(opts.from),
        to: String(opts.to),
        ...(maxCalls !== undefined ? { maxCalls } : {}),
      });
      ctx.out.result(report, () => lines(report));
    }),
  );
  reachCommand(rules);
}
