import type { Command } from 'commander';
import type { PutSessionSettingsBody, Session, SessionSettings } from './api.ts';
import { placed, readBodyFile } from './body-files.ts';
import { action, withJson } from './context.ts';

/**
 * `toolplane session show|set FILE|inspect SCOPE|end SCOPE` (ADR 0078, docs/governance.md "Rules that see the
 * session"): the workspace's session settings (the rules that judge a call sending data out by what its session
 * already holds, and how long a session keeps its labels), replaced whole by `set` (the body of
 * `PUT /session_settings`, as `session.yaml` holds it); one session's labels with where each came from; ending it.
 */

function ruleLine(r: SessionSettings['rules'][number]): string {
  const does = r.action === 'refuse' ? 'refuse' : 'require approval for';
  const mode = r.enforce ? '' : ' (log only)';
  return `${r.id}: after ${r.after.join(' or ')}, ${does} ${r.toolLabels.join(' or ')} tools${mode}`;
}

function settingsLines(s: SessionSettings): string[] {
  if (!s.configured) return ['no session settings: the workspace keeps no session and has no session rule'];
  return [
    `sessions keep their labels ${s.ttlSeconds} s after their last labelled call`,
    ...(s.rules.length === 0 ? ['no session rule'] : s.rules.map(ruleLine)),
  ];
}

function sessionLines(s: Session): string[] {
  if (s.labels.length === 0 && s.calls.length === 0) return [`session ${s.scope}: nothing (unknown, ended or expired)`];
  return [
    `session ${s.scope}`,
    ...s.labels.map(
      (l) =>
        `  ${l.label} from ${l.tool} (record ${l.invocationId}, ${l.at}; ${l.source}` +
        `${l.detector ? `: ${l.detector}` : ''})`,
    ),
    ...s.calls.map((c) => `  ${c.count} call(s) of ${c.tool} on ${c.serverId}, ${c.firstAt} - ${c.lastAt}`),
  ];
}

export function sessionCommand(program: Command): void {
  const session = program
    .command('session')
    .description('rules that see the session: the workspace’s session rules, one session’s labels, ending it');

  withJson(session.command('show').description('show the workspace’s session settings')).action(
    action(async (ctx) => {
      const s = await ctx.api().getSessionSettings();
      ctx.out.result(s, () => settingsLines(s));
    }),
  );

  withJson(
    session
      .command('set')
      .description('replace the session settings with a file (the body of PUT /session_settings)')
      .argument('<file>', 'JSON or YAML: ttlSeconds, rules'),
  ).action(
    action(async (ctx, [file]) => {
      const source = readBodyFile(file!, 'PUT /session_settings');
      const s = await placed(source, ctx.api().putSessionSettings(source.body as PutSessionSettingsBody));
      ctx.out.result(s, () => ['session settings set', ...settingsLines(s)]);
    }),
  );

  withJson(
    session
      .command('inspect')
      .description('one session’s labels, each with the result that brought it, and its calls (never a value)')
      .argument('<scope>', 'k:<API key id>, u:<external user id>, s:<OAuth subject> or a:<server id>'),
  ).action(
    action(async (ctx, [scope]) => {
      const s = await ctx.api().getSession(scope!);
      ctx.out.result(s, () => sessionLines(s));
    }),
  );

  withJson(
    session
      .command('end')
      .description('end a session: its labels and calls are dropped (an audit event says who)')
      .argument('<scope>', 'k:<API key id>, u:<external user id>, s:<OAuth subject> or a:<server id>'),
  ).action(
    action(async (ctx, [scope]) => {
      await ctx.api().endSession(scope!);
      ctx.out.result({ ended: scope }, () => [`session ${scope} ended`]);
    }),
  );
}
