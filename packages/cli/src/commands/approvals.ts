import { type Command, InvalidArgumentError } from 'commander';
import type { Approval, ApprovalState } from './api.ts';
import { action, withJson } from './context.ts';
import { jsonText, table } from './output.ts';

/**
 * `toolplane approvals list|show|approve|deny`: calls of a server's `approvalTools` waiting for someone else's
 * approval (ADR 0049, docs/governance.md "Approvals"). Deciding needs a key the rule names (scope `approve` or
 * `management`); the API's refusals (403 not an approver, 409 decided already or expired) are printed as they come.
 */

const states: readonly ApprovalState[] = ['pending', 'granted', 'denied', 'expired', 'executed'];

const state = (value: string): ApprovalState => {
  if (!states.includes(value as ApprovalState)) throw new InvalidArgumentError(`one of ${states.join(', ')}`);
  return value as ApprovalState;
};

/** Who a request or decision names: `api_key deploy-bot`, `oauth_subject alice`. */
const party = (p: Approval['requester']) => `${p.type} ${p.name ?? p.id ?? '-'}`;

function row(a: Approval): Record<string, unknown> {
  return {
    id: a.id,
    state: a.state,
    server: a.server.name,
    tool: a.tool,
    requester: party(a.requester),
    expires: a.expiresAt,
  };
}

/** Who may decide, by kind (key ids, subjects, people). */
function approversText(a: Approval): string {
  const { apiKeys, subjects, people } = a.rule.approvers;
  const parts = [
    apiKeys?.length ? `API keys ${apiKeys.join(', ')}` : '',
    subjects?.length ? `subjects ${subjects.join(', ')}` : '',
    people?.length ? `people ${people.join(', ')}` : '',
  ].filter(Boolean);
  return parts.join('; ') || '-';
}

/** One request in full: the call, its masked arguments, the rule and the decisions so far. */
function approvalLines(a: Approval): string[] {
  const approved = a.decisions.filter((d) => d.decision === 'approve').length;
  return [
    `${a.id}  ${a.state}`,
    `  call       ${a.tool} on ${a.server.name} (${a.server.id})`,
    `  requester  ${party(a.requester)}`,
    `  requested  ${a.requestedAt}, expires ${a.expiresAt}`,
    `  rule       ${approved} of ${a.rule.approvals} approval(s); approvers: ${approversText(a)}`,
    '  arguments (secret values masked):',
    ...jsonText(a.arguments, 2)
      .split('\n')
      .map((l) => `    ${l}`),
    ...(a.decisions.length > 0 ? ['  decisions:'] : []),
    ...a.decisions.map(
      (d) => `    ${d.at}  ${d.decision}  by ${party(d.approver)}${d.comment ? `: ${d.comment}` : ''}`,
    ),
    ...(a.executedAt ? [`  executed   ${a.executedAt}`] : []),
  ];
}

function decideCommand(approvals: Command, decision: 'approve' | 'deny'): void {
  withJson(
    approvals
      .command(decision)
      .description(
        decision === 'approve'
          ? 'approve a call (it runs once when its caller calls again with the same arguments)'
          : 'deny a call (its caller is refused with the comment until the request expires)',
      )
      .argument('<id>', 'the request’s id')
      .option('--comment <text>', 'why (a denial’s comment is shown to the caller)'),
  ).action(
    action(async (ctx, [id], opts) => {
      const comment = opts.comment === undefined ? undefined : String(opts.comment);
      const a = await ctx.api().decideApproval(id!, decision, comment);
      const verb = decision === 'approve' ? 'approved' : 'denied';
      ctx.out.result(a, () => [
        `${verb} ${a.tool} on ${a.server.name}: the request is ${a.state}`,
        ...approvalLines(a),
      ]);
    }),
  );
}

export function approvalsCommand(program: Command): void {
  const approvals = program
    .command('approvals')
    .description('approval requests: calls waiting for someone else’s approval (list, show, approve, deny)');

  withJson(
    approvals
      .command('list')
      .description('list approval requests, newest first')
      .option('--state <state>', `only requests in this state (${states.join(', ')})`, state),
  ).action(
    action(async (ctx, _args, opts) => {
      const list = await ctx.api().listApprovals(opts.state as ApprovalState | undefined);
      ctx.out.result({ data: list }, () =>
        list.length === 0
          ? ['(no approval requests)']
          : table(list.map(row), ['id', 'state', 'server', 'tool', 'requester', 'expires']),
      );
    }),
  );

  withJson(approvals.command('show').description('show one request').argument('<id>', 'the request’s id')).action(
    action(async (ctx, [id]) => {
      const a = await ctx.api().getApproval(id!);
      ctx.out.result(a, () => approvalLines(a));
    }),
  );

  decideCommand(approvals, 'approve');
  decideCommand(approvals, 'deny');
}
