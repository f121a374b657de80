import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { Json } from '../ui.tsx';
import { useAction } from './action.ts';
import { ActionError } from './form.tsx';

/** Proposed rules as workspace files (`access-policies/x.yaml`, `quotas/y.yaml`…): what a backtest replays. */
interface ProposedDocument {
  path: string;
  content: string;
}

/**
 * "Try on past calls" (issue #77, the backtest): POSTs the proposed documents to `POST /governance/backtest` and shows
 * the answer's `summary` as JSON. A placeholder until that operation lands in the API (it is not in the typed client
 * yet, hence the untyped call): the lead wires its request (period, bounds) and a proper view of its answer then.
 * Reading past calls changes nothing, so it shows to everyone who sees the proposal.
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
  const [answer, setAnswer] = useState<{ summary?: unknown } | null>(null);
  const run = () =>
    action.run(
      async () => {
        const post = client.POST as unknown as (
          path: string,
          init: { body: unknown },
        ) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
        const body = { files: documents, ...(period ? { period } : {}) };
        return (await unwrap(post('/governance/backtest', { body }))) as { summary?: unknown };
      },
      {
        then: (a) => {
          setAnswer(a);
        },
        failed: 'Not tried',
      },
    );
  return (
    <div className="backtest">
      <button type="button" className="secondary" onClick={run} disabled={action.busy || documents.length === 0}>
        {action.busy ? 'Trying on past calls…' : 'Try on past calls'}
      </button>
      <ActionError action={action} title="Could not try it on past calls" />
      {answer && <Json value={answer.summary ?? null} label="What it would have done to past calls" />}
    </div>
  );
}
