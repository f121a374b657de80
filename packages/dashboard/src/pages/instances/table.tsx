import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { ResourceTable, type Column } from '../../components/resource-table.tsx';
import { ErrorBox } from '../../ui.tsx';
import { type Instance, type Server } from './change.tsx';

type TestState =
  { state: 'running' } | { state: 'done'; result: Schemas['ConnectorTestResult'] } | { state: 'error'; error: unknown };

function TestResult({ test }: { test: TestState }) {
  if (test.state === 'running') return <span role="status">Testing…</span>;
  if (test.state === 'error') return <ErrorBox error={test.error} title="Test failed" />;
  const r = test.result;
  return (
    <span role="status" className={r.passed ? 'pass' : 'fail'}>
      {r.passed ? 'Passed' : 'Failed'}: HTTP {r.status ?? 'no answer'} (expected {r.expected_status}) in {r.duration_ms}{' '}
      ms{r.error ? ` — ${r.error}` : ''}
    </span>
  );
}

/** The instances' tests (`POST /connector_instances/{id}/test`), by instance. */
function useTests(client: ManagementClient) {
  const [tests, setTests] = useState<Record<string, TestState>>({});
  const test = (id: string) => {
    setTests((t) => ({ ...t, [id]: { state: 'running' } }));
    unwrap(client.POST('/connector_instances/{id}/test', { params: { path: { id } } })).then(
      (result) => setTests((t) => ({ ...t, [id]: { state: 'done', result } })),
      (error: unknown) => setTests((t) => ({ ...t, [id]: { state: 'error', error } })),
    );
  };
  return { tests, test };
}

export function InstancesTable({
  client,
  instances,
  connectors,
  servers,
  changing,
  onChange,
}: {
  client: ManagementClient;
  instances: Instance[];
  connectors: Schemas['Connector'][];
  servers: Server[];
  changing: string | null;
  onChange: (id: string) => void;
}) {
  const { tests, test } = useTests(client);
  const columns: Column<Instance>[] = [
    { header: 'Name', cell: (i) => i.name },
    { header: 'Connector', cell: (i) => connectors.find((c) => c.id === i.connector_id)?.name ?? i.connector_id },
    { header: 'Base URL', cell: (i) => i.base_url ?? '(the descriptor’s)' },
    { header: 'Credentials set', cell: (i) => i.credential_keys.join(', ') || 'none' },
    {
      header: 'Servers on it',
      cell: (i) =>
        servers
          .filter((srv) => srv.connectorInstanceId === i.id)
          .map((srv) => srv.name)
          .join(', ') || 'none',
    },
  ];
  const actions = (i: Instance) => (
    <>
      <button
        type="button"
        className="secondary"
        onClick={() => onChange(i.id)}
        aria-label={`Change ${i.name}`}
        aria-expanded={changing === i.id}
      >
        Change
      </button>{' '}
      <button
        type="button"
        className="secondary"
        onClick={() => test(i.id)}
        disabled={tests[i.id]?.state === 'running'}
        aria-label={`Test ${i.name}`}
      >
        Test
      </button>{' '}
      {tests[i.id] && <TestResult test={tests[i.id]!} />}
    </>
  );
  return (
    <ResourceTable
      rows={instances}
      columns={columns}
      actions={actions}
      caption="Connector instances"
      empty="No connector instance yet."
    />
  );
}
