import { json, problems } from '../../openapi/registry.ts';
import { post, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { Backtest } from './openapi.ts';
import { BacktestBody, MAX_CALLS, MAX_DAYS } from './schemas.ts';

/** Try a rule on past calls (docs/governance.md "Try a rule on past calls (backtest)", ADR 0080). */
export const backtestOperations: Operation[] = [
  post('/governance/backtest', 'backtest', {
    tags: ['backtest'],
    summary: 'Replay the recorded calls of a period through a proposed change of the rules',
    description:
      'The proposed change is written as workspace files (access policies with their conditions and approvals, ' +
      'quotas with their windows, guardrails on arguments); the recorded calls of the period (at most ' +
      `${MAX_DAYS} days, at most ${MAX_CALLS} calls, oldest first) are judged by the current rules and by the ` +
      'proposed ones with the edge’s own code, quotas replayed in time order, in log-only mode: no upstream is ' +
      'called, nothing is charged or changed. The answer counts the calls that would newly be refused, held for ' +
      'approval, allowed, charged differently or found something in, by API key, person, tool and day, with ' +
      'example record ids; never an argument’s value. Arguments are those the records kept sealed (ADR 0080). A ' +
      'change that depends on them (a condition or a guardrail on arguments) is counted only, never by record id, ' +
      'and fewer than 5 such calls are left out of every count (`fromArguments`, ADR 0091). Every run writes the ' +
      'audit event `governance.backtest` (the proposal’s digest, the records replayed). A few backtests run at once ' +
      '(`BACKTEST_MAX_CONCURRENT` per control plane, `BACKTEST_MAX_CONCURRENT_PER_WORKSPACE`): one more answers ' +
      '429 with `Retry-After`. The replay stops when the client goes away.',
    'x-audit': false,
    responses: { 200: json('What would change.', Backtest), ...problems(403, 422, 429) },
    body: BacktestBody,
    reads: 'document-json',
    handler: handlers.backtest,
  }),
];
