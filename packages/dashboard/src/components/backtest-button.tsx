import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Json } from '../ui.tsx';
import { useAction } from './action.ts';
import { ActionError } from './form.tsx';

/** Proposed rules as workspace files (`access-policies/x.yaml`, `quotas/y.yaml`…): what a backtest replays. */
interface ProposedDocument {
  path: string;
  content: string;
}

type Backtest = Schemas['Backtest'];
const changeNames = {
  newlyRefused: 'newly refused',
  newlyHeld: 'newly held for approval',
  newlyAllowed: 'newly allowed',
  newlyAskedToConfirm: 'newly asked to confirm',
  chargedDifferently: 'charged differently',
  newFindings: 'new guardrail findings',
  unjudged: 'not known (no arguments kept)',
} as const;

/** The period a backtest replays: from `period.from` (default: 7 days ago) to now, as instants with an offset. */
function periodOf(period: { from?: string; to?: string } | undefined): { from: string; to: string } {
  const instant = (s: string) => new Date(/[zZ]|[+-]\d\d:\d\d$/.test(s) ? s : `${s}Z`).toISOString();
  const to = period?.to ? instant(period.to) : new Date().toISOString();
  const from = period?.from ? instant(period.from) : new Date(Date.parse(to) - 7 * 86_400_000).toISOString();
  return { from, to };
}

/**
 * "Try on past calls" (docs/governance.md, "Try a rule on past calls"): POSTs the proposed documents to
 * `POST /governance/backtest` for the period and shows what would have changed: calls newly refused, held, allowed,
 * charged differently, newly found by a guardrail, and why, with example records. Reading past calls changes nothing,
 * so it shows to everyone who sees the proposal (the API refuses those who may not run it).
 */
export function BacktestButton({
  client,
  documents,
  period,
}: {
  client: ManagementClient;
  documents: readonly ProposedDocument[];
  period?: { from?: string; to?: string };
}) {
  const action = useAction();
  const [answer, setAnswer] = useState<Backtest | null>(null);
  const run = () =>
    action.run(
      async () => {
        const body = { files: documents.map(({ path, content }) => ({ path, content })), ...periodOf(period) };
        return unwrap(client.POST('/governance/backtest', { body }));
      },
      { then: setAnswer, failed: 'Not tried' },
    );
  return (
    <div className="backtest">
      <button type="button" className="secondary" onClick={run} disabled={action.busy || documents.length === 0}>
        {action.busy ? 'Trying on past calls…' : 'Try on past calls'}
      </button>
      <ActionError action={action} title="Could not try it on past calls" />
      {answer && <BacktestAnswer answer={answer} />}
    </div>
  );
}

function BacktestAnswer({ answer }: { answer: Backtest }) {
  const { calls, changes } = answer;
  return (
    <div className="backtest-answer">
      <p>
        {calls.replayed} past calls replayed{calls.truncated ? ` (the period held more than ${calls.limit})` : ''}
        {calls.withoutArguments ? `, ${calls.withoutArguments} without their arguments` : ''}.
      </p>
      <ul className="backtest-changes">
        {(Object.keys(changeNames) as (keyof typeof changeNames)[]).map((k) => (
          <li key={k} data-change={k}>
            <strong>{changes[k].calls}</strong> {changeNames[k]}
            {changes[k].examples.length > 0 && <> (e.g. {changes[k].examples.slice(0, 3).join(', ')})</>}
          </li>
        ))}
      </ul>
      <Json value={answer} label="The whole answer" />
    </div>
  );
}
