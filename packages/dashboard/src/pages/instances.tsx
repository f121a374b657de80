import { useEffect, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { Empty, ErrorBox, SecretInput, Show, useLoad, type Loaded } from '../ui.tsx';
import { credentialFields, type CredentialField } from '../credentials.ts';

function CreateInstance({
  client,
  connectors,
  onCreated,
}: {
  client: ManagementClient;
  connectors: Schemas['Connector'][];
  onCreated: () => void;
}) {
  const [connectorId, setConnectorId] = useState(connectors[0]?.id ?? '');
  const [name, setName] = useState('');
  const [baseUrl, setBaseUrl] = useState('');
  const [credentials, setCredentials] = useState<Record<string, string>>({});
  const [fields, setFields] = useState<Loaded<CredentialField[]>>({ state: 'loading' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<Schemas['CreatedConnectorInstance'] | null>(null);
  useEffect(() => {
    if (!connectorId) return;
    let live = true;
    setFields({ state: 'loading' });
    setCredentials({});
    unwrap(client.GET('/connectors/{id}', { params: { path: { id: connectorId } } })).then(
      (c) => live && setFields({ state: 'done', data: credentialFields(c) }),
      (err: unknown) => live && setFields({ state: 'error', error: err }),
    );
    return () => {
      live = false;
    };
  }, [client, connectorId]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    const body: Schemas['CreateConnectorInstanceBody'] = {
      connector_id: connectorId,
      name: name.trim(),
      credentials: Object.fromEntries(Object.entries(credentials).filter(([, v]) => v !== '')),
      ...(baseUrl.trim() ? { base_url: baseUrl.trim() } : {}),
    };
    unwrap(client.POST('/connector_instances', { body }))
      .then(
        (instance) => {
          setCreated(instance);
          setName('');
          setCredentials({});
          onCreated();
        },
        (err: unknown) => setError(err),
      )
      .finally(() => setBusy(false));
  };
  return (
    <section aria-labelledby="create-instance-title">
      <h2 id="create-instance-title">Create a connector instance</h2>
      <form className="form" onSubmit={submit}>
        <label htmlFor="instance-connector">Connector</label>
        <select id="instance-connector" value={connectorId} onChange={(e) => setConnectorId(e.target.value)}>
          {connectors.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name} {c.version}
            </option>
          ))}
        </select>
        <label htmlFor="instance-name">Name</label>
        <input id="instance-name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        <label htmlFor="instance-base-url">Base URL (replaces the origin of every endpoint; optional)</label>
        <input
          id="instance-base-url"
          type="url"
          placeholder="https://api.example.com"
          value={baseUrl}
          onChange={(e) => setBaseUrl(e.target.value)}
        />
        <fieldset>
          <legend>Credentials (write-only: never shown again)</legend>
          <Show loaded={fields} what="the credential fields">
            {(list) =>
              list.length === 0 ? (
                <Empty>This connector needs no credentials.</Empty>
              ) : (
                list.map((f) => (
                  <div key={f.key} className="field">
                    <label htmlFor={`cred-${f.key}`}>
                      {f.label} {f.required && <span>(required)</span>}
                    </label>
                    <SecretInput
                      id={`cred-${f.key}`}
                      required={f.required}
                      value={credentials[f.key] ?? ''}
                      onValue={(v) => setCredentials({ ...credentials, [f.key]: v })}
                    />
                  </div>
                ))
              )
            }
          </Show>
        </fieldset>
        {error !== null && <ErrorBox error={error} title="Not created" />}
        <button type="submit" disabled={busy || !name.trim() || !connectorId}>
          {busy ? 'Creating…' : 'Create instance'}
        </button>
      </form>
      {created && (
        <p className="success" role="status">
          Created <strong>{created.name}</strong>
          {created.mcp_server_id && (
            <>
              {' '}
              and its <Link href={`/servers/${created.mcp_server_id}`}>MCP server</Link>
            </>
          )}
          .
        </p>
      )}
    </section>
  );
}

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

export function InstancesPage({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useLoad(async () => {
    const [instances, connectors] = await Promise.all([
      unwrap(client.GET('/connector_instances')),
      unwrap(client.GET('/connectors')),
    ]);
    return { instances: instances.data, connectors: connectors.data };
  }, [client]);
  const [tests, setTests] = useState<Record<string, TestState>>({});
  const test = (id: string) => {
    setTests((t) => ({ ...t, [id]: { state: 'running' } }));
    unwrap(client.POST('/connector_instances/{id}/test', { params: { path: { id } } })).then(
      (result) => setTests((t) => ({ ...t, [id]: { state: 'done', result } })),
      (error: unknown) => setTests((t) => ({ ...t, [id]: { state: 'error', error } })),
    );
  };
  return (
    <>
      <h1>Connector instances</h1>
      <Show loaded={loaded} what="the connector instances">
        {({ instances, connectors }) => (
          <>
            {connectors.length === 0 ? (
              <Empty>
                Upload a <Link href="/connectors">connector</Link> first.
              </Empty>
            ) : (
              <CreateInstance client={client} connectors={connectors} onCreated={reload} />
            )}
            <section aria-labelledby="instances-title">
              <h2 id="instances-title">Instances</h2>
              {instances.length === 0 ? (
                <Empty>No connector instance yet.</Empty>
              ) : (
                <table>
                  <caption className="visually-hidden">Connector instances</caption>
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Connector</th>
                      <th scope="col">Base URL</th>
                      <th scope="col">Credentials set</th>
                      <th scope="col">Test</th>
                    </tr>
                  </thead>
                  <tbody>
                    {instances.map((i) => {
                      const t = tests[i.id];
                      return (
                        <tr key={i.id}>
                          <td>{i.name}</td>
                          <td>{connectors.find((c) => c.id === i.connector_id)?.name ?? i.connector_id}</td>
                          <td>{i.base_url ?? '(the descriptor’s)'}</td>
                          <td>{i.credential_keys.join(', ') || 'none'}</td>
                          <td>
                            <button
                              type="button"
                              className="secondary"
                              onClick={() => test(i.id)}
                              disabled={t?.state === 'running'}
                              aria-label={`Test ${i.name}`}
                            >
                              Test
                            </button>{' '}
                            {t && <TestResult test={t} />}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              )}
            </section>
          </>
        )}
      </Show>
    </>
  );
}
