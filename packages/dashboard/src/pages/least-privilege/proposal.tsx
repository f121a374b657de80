import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { useAction } from '../../components/action.ts';
import { BacktestButton } from '../../components/backtest-button.tsx';
import { ActionError, Success } from '../../components/form.tsx';
import { ResourceTable } from '../../components/resource-table.tsx';
import { useMay } from '../../powers.tsx';
import { Link } from '../../router.tsx';
import { ConfirmButton, CopyBlock, Show, useLoad } from '../../ui.tsx';

type Change = Schemas['WorkspaceChange'];
type Files = { path: string; content: string }[];

/** What plan says of the proposal's files: each change, and whether it loosens a rule (it then waits for approval). */
function PlanOf({ changes }: { changes: Change[] }) {
  return (
    <ResourceTable
      rows={changes}
      rowKey={(c) => `${c.kind}/${c.name}`}
      caption="What applying the proposal changes"
      showCaption
      empty="Nothing: the workspace already holds the proposal."
      columns={[
        { header: 'Resource', rowHeader: true, cell: (c) => `${c.kind} ${c.name}` },
        { header: 'Change', cell: (c) => `${c.action}${c.fields.length ? ` (${c.fields.join(', ')})` : ''}` },
        {
          header: 'Loosens',
          cell: (c) => (c.loosens ? `yes: ${(c.loosenedFields ?? []).join(', ')} (waits for approval)` : 'no'),
        },
      ]}
    />
  );
}

/** Plan, then apply, the proposal's files (`POST /workspace_files/plan|apply`, never `prune`). */
function PlanAndApply({ client, files, title }: { client: ManagementClient; files: Files; title: string }) {
  const mayPlan = useMay('workspace_files', 'read');
  const mayApply = useMay('workspace_files', 'write');
  const plan = useAction();
  const apply = useAction();
  const [changes, setChanges] = useState<Change[] | null>(null);
  const [waiting, setWaiting] = useState<string | null>(null);
  if (!mayPlan) return <p className="hint">Those who may read the workspace’s files plan and apply it.</p>;
  const runPlan = () =>
    plan.run(() => unwrap(client.POST('/workspace_files/plan', { body: { files } })), {
      then: (p) => {
        setChanges(p.changes.filter((c) => c.action !== 'unmanaged' && c.action !== 'unchanged'));
      },
      failed: 'Not planned',
    });
  const runApply = () =>
    apply.run(() => unwrap(client.POST('/workspace_files/apply', { body: { files } })), {
      then: (r) => {
        setWaiting(r.waiting?.changeRequest.id ?? null);
        if (r.outcome === 'waits_for_approval')
          return `Applied up to ${r.waiting!.name}: it loosens a rule and waits for another person’s approval.`;
        return r.outcome === 'applied' ? `Applied: ${r.applied.length} change(s).` : 'Not all applied.';
      },
      failed: 'Not applied',
    });
  return (
    <>
      <button type="button" onClick={runPlan} disabled={plan.busy}>
        {plan.busy ? 'Planning…' : 'Plan'}
      </button>
      <ActionError action={plan} title="Not planned" />
      {changes && <PlanOf changes={changes} />}
      {changes && changes.length > 0 && mayApply && (
        <ConfirmButton
          label="Apply"
          name={`the proposal for ${title}`}
          question="Apply these changes to the workspace?"
          confirmLabel="Apply"
          busy={apply.busy}
          onConfirm={runApply}
        />
      )}
      <ActionError action={apply} title="Not applied" />
      <Success>{apply.done}</Success>
      {waiting && <Link href={`/change-requests/${waiting}`}>Its change request</Link>}
    </>
  );
}

/**
 * One principal's proposal as workspace files (`GET /least_privilege/proposal`): the files to keep in the workspace's
 * directory, what else to do (`notes`), tried on past calls, then planned and applied here or with `toolplane`.
 */
export function ProposalPanel({
  client,
  principal,
  title,
  from,
}: {
  client: ManagementClient;
  principal: string;
  title: string;
  from: string;
}) {
  const [loaded] = useLoad(
    () => unwrap(client.GET('/least_privilege/proposal', { params: { query: { principal, from } } })),
    [client, principal, from],
  );
  return (
    <section aria-labelledby="proposal-title" className="proposal">
      <h2 id="proposal-title">Proposal for {title}</h2>
      <Show loaded={loaded} what="the proposal">
        {(p) => (
          <>
            {p.notes.length > 0 && (
              <ul className="notes">
                {p.notes.map((n) => (
                  <li key={n}>{n}</li>
                ))}
              </ul>
            )}
            {p.files.map((f) => (
              <CopyBlock key={f.path} label={f.path} text={f.content} />
            ))}
            <BacktestButton client={client} documents={p.files} period={{ from }} />
            <PlanAndApply client={client} files={p.files} title={title} />
          </>
        )}
      </Show>
    </section>
  );
}
