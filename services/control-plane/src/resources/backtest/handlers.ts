import { ValidationError } from '@toolplane/errors';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { replayOffThread } from './replay-thread.ts';
import { currentRules, proposedRules } from './rules.ts';
import { MAX_DAYS, type BacktestBody } from './schemas.ts';

const DAY_MS = 86_400_000;

/** What the replay leaves to the edge alone, said in every answer. */
const NOT_REPLAYED = [
  'approval rules of servers (approvalTools) and, of a server file, anything but its confirmTools; a confirmation ' +
    'is taken as accepted (a recorded decline or cancel stays as recorded)',
  'conditions on the session: a record keeps no session calls (conditions reading them are false); session rules are ' +
    'judged on the labels the records kept (a call of a workspace that kept no session brought none)',
  'quotas on calls in flight: a record says when a call started, not what ran beside it',
  'the result guardrails: results are not kept',
];

function periodOf(body: BacktestBody) {
  const from = new Date(body.from);
  const to = new Date(body.to);
  const problems = [];
  if (from >= to) problems.push({ path: '/from', message: `must be before to (${to.toISOString()})` });
  else if (to.getTime() - from.getTime() > MAX_DAYS * DAY_MS)
    problems.push({ path: '/from', message: `the period may cover at most ${MAX_DAYS} days` });
  if (problems.length > 0) throw new ValidationError('the request is invalid', problems, 'request.invalid', 422);
  return { from, to };
}

/**
 * `POST /governance/backtest` (ADR 0080): the period's recorded calls replayed through the current rules and the
 * proposed ones, in time order, calling nothing; what would change, counted. The replay runs on a thread of its own at
 * the lowest CPU priority (replay-thread.ts); the client going away ends it.
 */
export async function backtest(deps: ControlPlaneDeps, { caller, body, signal }: Input<BacktestBody>) {
  const period = periodOf(body);
  const workspaceId = caller.workspaceId;
  const current = await currentRules(deps.db, workspaceId);
  const proposed = await proposedRules(deps, workspaceId, current, body.files);
  const key = {
    RECORD_ARGUMENTS_PRIVATE_KEY_FILE: deps.env.RECORD_ARGUMENTS_PRIVATE_KEY_FILE,
    RECORD_ARGUMENTS_PRIVATE_KEY: deps.env.RECORD_ARGUMENTS_PRIVATE_KEY,
  };
  const started = Date.now();
  const o = await replayOffThread(
    {
      databaseUrl: deps.env.DATABASE_URL,
      key,
      workspaceId,
      period,
      rules: { current, proposed },
      maxCalls: body.maxCalls,
    },
    { signal, log: deps.log },
  );
  const log = { workspaceId, replayed: o.replayed, ms: Date.now() - started };
  if (o.cancelled) deps.log.info(log, 'backtest cancelled: the client went away');
  else deps.log.info(log, 'backtest done');
  return {
    period: { from: period.from.toISOString(), to: period.to.toISOString() },
    calls: {
      replayed: o.replayed,
      skipped: o.skipped,
      withoutArguments: o.withoutArguments,
      limit: body.maxCalls,
      truncated: o.truncated,
    },
    changes: o.changes,
    reasons: o.reasons,
    findings: o.findings,
    notReplayed: [
      ...NOT_REPLAYED,
      ...(key.RECORD_ARGUMENTS_PRIVATE_KEY_FILE || key.RECORD_ARGUMENTS_PRIVATE_KEY
        ? []
        : ['arguments: this control plane has no key to open them']),
    ],
  };
}
