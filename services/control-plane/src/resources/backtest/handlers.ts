import { createHash, randomUUID } from 'node:crypto';
import type { AuditEventInput } from '@toolplane/contracts';
import { auditScopes } from '../../db/audited-db.ts';
import { actorOf } from '../../http/audit.ts';
import { checkedPeriod } from '../../http/query-date.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { replayOffThread } from './replay-thread.ts';
import type { ReplaySummary } from './replay.ts';
import { currentRules, proposedRules } from './rules.ts';
import { MAX_DAYS, type BacktestBody } from './schemas.ts';

/** What the replay leaves to the edge alone, said in every answer. */
const NOT_REPLAYED = [
  'of a server file, anything but its confirmTools and approvalTools; a confirmation is taken as accepted (a ' +
    'recorded decline or cancel stays as recorded), an approval as asked for (held)',
  'conditions on the session: a record keeps no session calls (conditions reading them are false); session rules are ' +
    'judged on the labels the records kept (a call of a workspace that kept no session brought none)',
  'quotas on calls in flight: a record says when a call started, not what ran beside it',
  'the result guardrails: results are not kept',
];

function periodOf(body: BacktestBody) {
  return checkedPeriod(new Date(body.from), new Date(body.to), MAX_DAYS);
}

/** The proposal's digest: SHA-256 of its files (path and content), in path order. */
function proposalDigest(files: BacktestBody['files']): string {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const text = JSON.stringify(sorted.map((f) => [f.path, f.content]));
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/**
 * Every run's audit event (ADR 0091): who ran which proposal (its digest and files' paths) over which period, how many
 * records it replayed and how many changes depended on their arguments. Written when the replay ends, answered or
 * not (the client going away ends it too); the request's own closing event is then not owed.
 */
async function auditRun(
  deps: ControlPlaneDeps,
  input: Input<BacktestBody>,
  run: { o?: ReplaySummary; error?: unknown },
) {
  const { caller, body, source } = input;
  const fromArguments = run.o
    ? Object.values(run.o.changes).reduce((n, c) => n + (c.fromArguments ?? 0), 0)
    : undefined;
  const event: AuditEventInput = {
    id: randomUUID(),
    at: new Date().toISOString(),
    workspaceId: caller.workspaceId,
    actor: actorOf(caller),
    action: 'governance.backtest',
    resource: { type: 'backtest', id: proposalDigest(body.files) },
    outcome: run.o ? (run.o.cancelled ? 'cancelled' : 'success') : 'failed',
    status: null,
    source,
    changes: null,
    details: {
      files: body.files.map((f) => f.path),
      period: { from: body.from, to: body.to },
      maxCalls: body.maxCalls,
      ...(run.o ? { replayed: run.o.replayed, skipped: run.o.skipped, fromArguments } : {}),
    },
  };
  const recorded = await deps.trail.appendAlone(event);
  const scope = auditScopes.getStore();
  if (scope) scope.recorded ??= recorded;
}

/**
 * `POST /governance/backtest` (ADR 0080): the period's recorded calls replayed through the current rules and the
 * proposed ones, in time order, calling nothing; what would change, counted. The replay runs on a thread of its own at
 * the lowest CPU priority (replay-thread.ts), in one of the control plane's few backtest slots (429 when none is free;
 * ADR 0091); the client going away ends it. Every run is audited; changes that depend on recorded arguments are
 * counted only (ADR 0091, tally.ts).
 */
export async function backtest(deps: ControlPlaneDeps, input: Input<BacktestBody>) {
  const { caller, body } = input;
  const period = periodOf(body);
  const workspaceId = caller.workspaceId;
  const free = deps.backtests.take(workspaceId);
  let o: ReplaySummary;
  const started = Date.now();
  try {
    o = await replayed(deps, input, period);
  } catch (error) {
    free();
    await auditRun(deps, input, { error });
    throw error;
  }
  free();
  await auditRun(deps, input, { o });
  const log = { workspaceId, replayed: o.replayed, ms: Date.now() - started };
  if (o.cancelled) deps.log.info(log, 'backtest cancelled: the client went away');
  else deps.log.info(log, 'backtest done');
  return answer(deps, body, period, o);
}

async function replayed(deps: ControlPlaneDeps, { caller, body, signal }: Input<BacktestBody>, period: Period) {
  const workspaceId = caller.workspaceId;
  const current = await currentRules(deps.db, workspaceId);
  const proposed = await proposedRules(deps, workspaceId, current, body.files);
  return replayOffThread(
    {
      databaseUrl: deps.env.DATABASE_URL,
      key: keyOf(deps),
      workspaceId,
      period,
      rules: { current, proposed },
      maxCalls: body.maxCalls,
    },
    { signal, log: deps.log },
  );
}

type Period = ReturnType<typeof periodOf>;

const keyOf = (deps: ControlPlaneDeps) => ({
  RECORD_ARGUMENTS_PRIVATE_KEY_FILE: deps.env.RECORD_ARGUMENTS_PRIVATE_KEY_FILE,
  RECORD_ARGUMENTS_PRIVATE_KEY: deps.env.RECORD_ARGUMENTS_PRIVATE_KEY,
});

function answer(deps: ControlPlaneDeps, body: BacktestBody, period: Period, o: ReplaySummary) {
  const key = keyOf(deps);
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
