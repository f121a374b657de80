import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../../api.ts';
import { Success } from '../../components/form.tsx';
import { ResourceTable, type Column } from '../../components/resource-table.tsx';
import { ActionButton, ConfirmButton, ErrorBox, useLoad, useRowAction } from '../../ui.tsx';
import { Section } from '../../components/section.tsx';

type Deployment = Schemas['WorkflowDeployment'];

/** Rolling back to an earlier deployment (`…/redeploy`) and taking the active one's tools off (`…/withdraw`). */
function useHistoryActions(client: ManagementClient, server: string, onChanged: () => void) {
  const { pending, error, run } = useRowAction();
  const [done, setDone] = useState<string | null>(null);
  const path = (deploymentId: string) => ({ params: { path: { id: server, deploymentId } } });
  const rollBack = (id: string, label: string) => {
    setDone(null);
    run(
      id,
      async () => {
        const {
          data,
          error: failure,
          response,
        } = await client.POST('/mcp_servers/{id}/deployments/{deploymentId}/redeploy', path(id));
        if (response.status === 204) return setDone(`${label} is already the active deployment: nothing changed.`);
        if (!data) throw new ApiError(response.status, failure);
        setDone(`${label} deployed again: the server now has the tools ${data.tools.join(', ') || '(none)'}.`);
      },
      onChanged,
    );
  };
  const withdraw = (id: string, label: string) => {
    setDone(null);
    run(
      id,
      () =>
        unwrap(client.POST('/mcp_servers/{id}/deployments/{deploymentId}/withdraw', path(id))).then(() =>
          setDone(`The tools of ${label} were taken off the server.`),
        ),
      onChanged,
    );
  };
  return { pending, error, done, rollBack, withdraw };
}

type HistoryActions = ReturnType<typeof useHistoryActions>;

/** A deployment's actions: the active one's tools off the server, an earlier one deployed again. */
function DeploymentActions({ d, label, actions }: { d: Deployment; label: string; actions: HistoryActions }) {
  const { pending } = actions;
  if (d.state === 'active')
    return (
      <ConfirmButton
        label="Remove its tools"
        name={`of ${label}`}
        question={`Take ${d.tools.join(', ') || 'its tools'} off the server?`}
        confirmLabel="Remove the tools"
        busy={pending === d.id}
        onConfirm={() => actions.withdraw(d.id, label)}
      />
    );
  if (d.state !== 'superseded' && d.state !== 'withdrawn') return null;
  return (
    <ActionButton
      className="secondary"
      disabled={pending !== null}
      onClick={() => actions.rollBack(d.id, label)}
      aria-label={`${d.state === 'withdrawn' ? 'Deploy again' : 'Roll back to'} ${label}`}
    >
      {pending === d.id ? 'Deploying…' : d.state === 'withdrawn' ? 'Deploy again' : 'Roll back'}
    </ActionButton>
  );
}

/**
 * The deployments, newest first, numbered from the oldest (#1). The active one's tools can be taken off the server
 * (`…/withdraw`); an earlier one that compiled can be deployed again from what it stored (`…/redeploy`): a rollback.
 */
export function History({
  client,
  server,
  tick,
  onChanged,
}: {
  client: ManagementClient;
  server: string;
  tick: number;
  onChanged: () => void;
}) {
  const [deployments] = useLoad(
    () => unwrap(client.GET('/mcp_servers/{id}/deployments', { params: { path: { id: server } } })).then((r) => r.data),
    [client, server],
    tick, // a deployment or rollback: the table is refreshed in place
  );
  const actions = useHistoryActions(client, server, onChanged);
  const count = deployments.state === 'done' ? deployments.data.length : 0;
  const label = (n: number) => `deployment #${count - n}`;
  const columns: Column<Deployment>[] = [
    { header: 'Deployment', rowHeader: true, cell: (_, n) => `#${count - n}` },
    { header: 'Created', cell: (d) => new Date(d.created_at).toLocaleString() },
    { header: 'State', cell: (d) => d.state },
    { header: 'Format', cell: (d) => d.format ?? '—' },
    { header: 'Tools', cell: (d) => d.tools.join(', ') },
    { header: 'Problems', cell: (d) => [...d.errors, ...d.warnings].map((p) => `${p.message} (${p.path})`).join('; ') },
    { header: 'Actions', cell: (d, n) => <DeploymentActions d={d} label={label(n)} actions={actions} /> },
  ];
  return (
    <Section id="history" title="Deployment history">
      <Success>{actions.done}</Success>
      {actions.error !== null && <ErrorBox error={actions.error} title="Not done" />}
      <ResourceTable
        loaded={deployments}
        what="the deployments"
        columns={columns}
        rowData={(d) => ({ state: d.state })}
        caption="Deployments, newest first"
        empty="No deployment yet."
      />
    </Section>
  );
}
