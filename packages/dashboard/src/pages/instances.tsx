import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { ConfirmButton, Empty, ErrorBox, SecretInput, Show, useLoad, type Loaded } from '../ui.tsx';
import { credentialFields, type CredentialField } from '../credentials.ts';

/**
 * The credential fields of a connector, each a masked, write-only input. `stored`: the fields the instance has a
 * value for (changing it: an empty field keeps the stored value, so none is required).
 */
function CredentialInputs({
  idPrefix,
  fields,
  values,
  onChange,
  stored,
}: {
  idPrefix: string;
  fields: Loaded<CredentialField[]>;
  values: Record<string, string>;
  onChange: (values: Record<string, string>) => void;
  stored?: string[];
}) {
  return (
    <Show loaded={fields} what="the credential fields">
      {(list) =>
        list.length === 0 ? (
          <Empty>This connector needs no credentials.</Empty>
        ) : (
          list.map((f) => (
            <div key={f.key} className="field">
              <label htmlFor={`${idPrefix}-${f.key}`}>
                {f.label}{' '}
                {stored?.includes(f.key) ? (
                  <span>(set: leave empty to keep it)</span>
                ) : (
                  f.required && <span>(required)</span>
                )}
              </label>
              <SecretInput
                id={`${idPrefix}-${f.key}`}
                required={f.required && !stored?.includes(f.key)}
                value={values[f.key] ?? ''}
                onValue={(v) => onChange({ ...values, [f.key]: v })}
              />
            </div>
          ))
        )
      }
    </Show>
  );
}

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
          <CredentialInputs idPrefix="cred" fields={fields} values={credentials} onChange={setCredentials} />
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
              and its MCP server <Link href={`/servers/${created.mcp_server_id}`}>{created.mcp_server_name}</Link>
            </>
          )}
          .
        </p>
      )}
    </section>
  );
}

/**
 * Changing one instance: its name, its base URL, and any of its credentials (rotation: a value typed replaces the
 * stored one, an empty field keeps it; values are never shown). Then deleting it, with what it takes away.
 */
function ChangeInstance({
  client,
  instance,
  servers,
  onChanged,
  onDeleted,
  onClose,
}: {
  client: ManagementClient;
  instance: Schemas['ConnectorInstance'];
  servers: Schemas['McpServerSummary'][];
  onChanged: () => void;
  onDeleted: () => void;
  onClose: () => void;
}) {
  const [name, setName] = useState(instance.name);
  const [baseUrl, setBaseUrl] = useState(instance.base_url ?? '');
  const [credentials, setCredentials] = useState<Record<string, string>>({});
  const [fields, setFields] = useState<Loaded<CredentialField[]>>({ state: 'loading' });
  const [busy, setBusy] = useState<'save' | 'delete' | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [instance.id]);
  useEffect(() => {
    let live = true;
    unwrap(client.GET('/connectors/{id}', { params: { path: { id: instance.connector_id } } })).then(
      (c) => live && setFields({ state: 'done', data: credentialFields(c) }),
      (err: unknown) => live && setFields({ state: 'error', error: err }),
    );
    return () => {
      live = false;
    };
  }, [client, instance.connector_id]);
  const rotated = Object.entries(credentials).filter(([, v]) => v !== '');
  const body: Schemas['UpdateConnectorInstanceBody'] = {
    ...(name.trim() !== instance.name ? { name: name.trim() } : {}),
    ...(baseUrl.trim() !== (instance.base_url ?? '') ? { base_url: baseUrl.trim() || null } : {}),
    ...(rotated.length > 0 ? { credentials: Object.fromEntries(rotated) } : {}),
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy('save');
    setError(null);
    setSaved(null);
    unwrap(client.PATCH('/connector_instances/{id}', { params: { path: { id: instance.id } }, body }))
      .then(
        (changed) => {
          setCredentials({});
          setSaved(
            `Saved ${changed.name}` + (rotated.length > 0 ? `: ${rotated.map(([k]) => k).join(', ')} replaced.` : '.'),
          );
          onChanged();
        },
        (err: unknown) => setError(err),
      )
      .finally(() => setBusy(null));
  };
  const remove = () => {
    setBusy('delete');
    setError(null);
    unwrap(client.DELETE('/connector_instances/{id}', { params: { path: { id: instance.id } } })).then(
      onDeleted,
      (err: unknown) => {
        setError(err);
        setBusy(null);
      },
    );
  };
  // The server generated for it goes with it; other servers built on it stay, without its tools.
  const bound = servers.filter((s) => s.connectorInstanceId === instance.id && s.id !== instance.mcp_server_id);
  const id = `change-${instance.id}`;
  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`} ref={heading} tabIndex={-1}>
        Change {instance.name}
      </h2>
      <form className="form" onSubmit={submit}>
        <label htmlFor={`${id}-name`}>Name</label>
        <input id={`${id}-name`} required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        <label htmlFor={`${id}-base-url`}>Base URL (empty: the descriptor’s endpoints)</label>
        <input id={`${id}-base-url`} type="url" value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} />
        <fieldset>
          <legend>Rotate credentials (write-only: the stored values are never shown)</legend>
          <CredentialInputs
            idPrefix={`${id}-cred`}
            fields={fields}
            values={credentials}
            onChange={setCredentials}
            stored={instance.credential_keys}
          />
        </fieldset>
        {error !== null && <ErrorBox error={error} title="Not saved" />}
        <div className="buttons">
          <button type="submit" disabled={busy !== null || Object.keys(body).length === 0 || !name.trim()}>
            {busy === 'save' ? 'Saving…' : 'Save changes'}
          </button>
          <button type="button" className="secondary" onClick={onClose}>
            Close
          </button>
        </div>
      </form>
      {saved && (
        <p className="success" role="status">
          {saved}
        </p>
      )}
      <div className="danger-zone">
        <h3>Delete {instance.name}</h3>
        <ul aria-label={`What deleting ${instance.name} takes away`}>
          <li>Its credentials are deleted, and external users’ own credentials for it.</li>
          {instance.mcp_server_id && (
            <li>
              Its MCP server <Link href={`/servers/${instance.mcp_server_id}`}>{instance.mcp_server_name}</Link>{' '}
              (generated for it from the connector’s mcp_config) is deleted with it.
            </li>
          )}
          {bound.length === 0 ? (
            <li>No other server is built on it.</li>
          ) : (
            <li>
              The other servers built on it keep existing without its tools (with a warning):{' '}
              {bound.map((s, n) => (
                <span key={s.id}>
                  {n > 0 && ', '}
                  <Link href={`/servers/${s.id}`}>{s.name}</Link>
                </span>
              ))}
              .
            </li>
          )}
          <li>SMART servers no longer find its tools; servers that chose its tools by name lose them.</li>
        </ul>
        <ConfirmButton
          label="Delete instance"
          name={instance.name}
          question={`Delete ${instance.name} and its credentials?`}
          confirmLabel={`Delete ${instance.name}`}
          busy={busy === 'delete'}
          onConfirm={remove}
        />
      </div>
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
    const [instances, connectors, servers] = await Promise.all([
      unwrap(client.GET('/connector_instances')),
      unwrap(client.GET('/connectors')),
      unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })),
    ]);
    return { instances: instances.data, connectors: connectors.data, servers: servers.data };
  }, [client]);
  const [tests, setTests] = useState<Record<string, TestState>>({});
  const [changing, setChanging] = useState<string | null>(null);
  const [deleted, setDeleted] = useState<string | null>(null);
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
        {({ instances, connectors, servers }) => (
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
              {deleted && (
                <p className="success" role="status">
                  Deleted {deleted}.
                </p>
              )}
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
                      <th scope="col">Servers on it</th>
                      <th scope="col">Actions</th>
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
                            {servers
                              .filter((srv) => srv.connectorInstanceId === i.id)
                              .map((srv) => srv.name)
                              .join(', ') || 'none'}
                          </td>
                          <td>
                            <button
                              type="button"
                              className="secondary"
                              onClick={() => {
                                setDeleted(null);
                                setChanging(i.id);
                              }}
                              aria-label={`Change ${i.name}`}
                              aria-expanded={changing === i.id}
                            >
                              Change
                            </button>{' '}
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
            {(() => {
              const instance = instances.find((i) => i.id === changing);
              return (
                instance && (
                  <ChangeInstance
                    key={instance.id}
                    client={client}
                    instance={instance}
                    servers={servers}
                    onChanged={reload}
                    onDeleted={() => {
                      setChanging(null);
                      setDeleted(instance.name);
                      reload();
                    }}
                    onClose={() => setChanging(null)}
                  />
                )
              );
            })()}
          </>
        )}
      </Show>
    </>
  );
}
