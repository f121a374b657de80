import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { useAction } from '../components/action.ts';
import { CredentialInputs, typedValues, useCredentialFields } from '../components/credential-inputs.tsx';
import { ActionError, SelectField, SubmitButton, Success, TextField, FormEnd } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link } from '../router.tsx';
import { ConfirmButton, Empty, ErrorBox, Show, useLoad } from '../ui.tsx';
import { Writable } from '../powers.tsx';
import { Section } from '../components/section.tsx';

type Instance = Schemas['ConnectorInstance'];
type Server = Schemas['McpServerSummary'];

/** The created instance, and the MCP server generated for it (the descriptor's `mcp_config`). */
function Created({ created }: { created: Schemas['CreatedConnectorInstance'] }) {
  return (
    <Success>
      Created <strong>{created.name}</strong>
      {created.mcp_server_id && (
        <>
          {' '}
          and its MCP server <Link href={`/servers/${created.mcp_server_id}`}>{created.mcp_server_name}</Link>
        </>
      )}
      .
    </Success>
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
  const fields = useCredentialFields(client, connectorId);
  const create = useAction();
  const [created, setCreated] = useState<Schemas['CreatedConnectorInstance'] | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setCreated(null);
    const body: Schemas['CreateConnectorInstanceBody'] = {
      connector_id: connectorId,
      name: name.trim(),
      credentials: typedValues(credentials),
      ...(baseUrl.trim() ? { base_url: baseUrl.trim() } : {}),
    };
    create.run(() => unwrap(client.POST('/connector_instances', { body })), {
      then: (instance) => {
        setCreated(instance);
        setName('');
        setCredentials({});
        onCreated();
      },
    });
  };
  const chooseConnector = (id: string) => {
    setConnectorId(id);
    setCredentials({});
  };
  return (
    <Section id="create-instance" title="Create a connector instance">
      <form className="form" onSubmit={submit}>
        <SelectField
          id="instance-connector"
          label="Connector"
          value={connectorId}
          onValue={chooseConnector}
          options={connectors.map((c) => ({ value: c.id, label: `${c.name} ${c.version}` }))}
        />
        <TextField id="instance-name" label="Name" required maxLength={100} value={name} onValue={setName} />
        <TextField
          id="instance-base-url"
          label="Base URL (replaces the origin of every endpoint; optional)"
          type="url"
          placeholder="https://api.example.com"
          value={baseUrl}
          onValue={setBaseUrl}
        />
        <fieldset>
          <legend>Credentials (write-only: never shown again)</legend>
          <CredentialInputs idPrefix="cred" fields={fields} values={credentials} onChange={setCredentials} />
        </fieldset>
        <FormEnd action={create} failed="Not created" disabled={!name.trim() || !connectorId} busyLabel="Creating…">
          Create instance
        </FormEnd>
      </form>
      {created && <Created created={created} />}
    </Section>
  );
}

/** What deleting an instance takes away, and the confirmation. */
function DeleteInstance({
  client,
  instance,
  servers,
  onDeleted,
}: {
  client: ManagementClient;
  instance: Instance;
  servers: Server[];
  onDeleted: () => void;
}) {
  const removal = useAction();
  const remove = () =>
    removal.run(() => unwrap(client.DELETE('/connector_instances/{id}', { params: { path: { id: instance.id } } })), {
      then: onDeleted,
    });
  // The server generated for it goes with it; other servers built on it stay, without its tools.
  const bound = servers.filter((s) => s.connectorInstanceId === instance.id && s.id !== instance.mcp_server_id);
  return (
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
      <ActionError action={removal} title="Not deleted" />
      <ConfirmButton
        label="Delete instance"
        name={instance.name}
        question={`Delete ${instance.name} and its credentials?`}
        confirmLabel={`Delete ${instance.name}`}
        busy={removal.busy}
        onConfirm={remove}
      />
    </div>
  );
}

/**
 * Changing one instance: its name, its base URL, and any of its credentials (rotation: a value typed replaces the
 * stored one, an empty field keeps it; values are never shown).
 */
function ChangeForm({
  client,
  instance,
  onChanged,
  onClose,
}: {
  client: ManagementClient;
  instance: Instance;
  onChanged: () => void;
  onClose: () => void;
}) {
  const [name, setName] = useState(instance.name);
  const [baseUrl, setBaseUrl] = useState(instance.base_url ?? '');
  const [credentials, setCredentials] = useState<Record<string, string>>({});
  const fields = useCredentialFields(client, instance.connector_id);
  const save = useAction();
  const rotated = Object.keys(typedValues(credentials));
  const body: Schemas['UpdateConnectorInstanceBody'] = {
    ...(name.trim() !== instance.name ? { name: name.trim() } : {}),
    ...(baseUrl.trim() !== (instance.base_url ?? '') ? { base_url: baseUrl.trim() || null } : {}),
    ...(rotated.length > 0 ? { credentials: typedValues(credentials) } : {}),
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.run(() => unwrap(client.PATCH('/connector_instances/{id}', { params: { path: { id: instance.id } }, body })), {
      then: (changed) => {
        setCredentials({});
        onChanged();
        return `Saved ${changed.name}` + (rotated.length > 0 ? `: ${rotated.join(', ')} replaced.` : '.');
      },
    });
  };
  const id = `change-${instance.id}`;
  return (
    <>
      <form className="form" onSubmit={submit}>
        <TextField id={`${id}-name`} label="Name" required maxLength={100} value={name} onValue={setName} />
        <TextField
          id={`${id}-base-url`}
          label="Base URL (empty: the descriptor’s endpoints)"
          type="url"
          value={baseUrl}
          onValue={setBaseUrl}
        />
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
        <ActionError action={save} title="Not saved" />
        <div className="buttons">
          <SubmitButton busy={save.busy} disabled={Object.keys(body).length === 0 || !name.trim()} busyLabel="Saving…">
            Save changes
          </SubmitButton>
          <button type="button" className="secondary" onClick={onClose}>
            Close
          </button>
        </div>
      </form>
      <Success>{save.done}</Success>
    </>
  );
}

/** Changing one instance, then deleting it, with what it takes away. */
function ChangeInstance(props: {
  client: ManagementClient;
  instance: Instance;
  servers: Server[];
  onChanged: () => void;
  onDeleted: () => void;
  onClose: () => void;
}) {
  const { instance } = props;
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [instance.id]);
  const id = `change-${instance.id}`;
  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`} ref={heading} tabIndex={-1}>
        Change {instance.name}
      </h2>
      <ChangeForm client={props.client} instance={instance} onChanged={props.onChanged} onClose={props.onClose} />
      <DeleteInstance client={props.client} instance={instance} servers={props.servers} onDeleted={props.onDeleted} />
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

function InstancesTable({
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

export function InstancesPage({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useLoad(async () => {
    const [instances, connectors, servers] = await Promise.all([
      unwrap(client.GET('/connector_instances')),
      unwrap(client.GET('/connectors')),
      unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })),
    ]);
    return { instances: instances.data, connectors: connectors.data, servers: servers.data };
  }, [client]);
  const [changing, setChanging] = useState<string | null>(null);
  const [deleted, setDeleted] = useState<string | null>(null);
  const change = (id: string) => {
    setDeleted(null);
    setChanging(id);
  };
  return (
    <>
      <h1>Connector instances</h1>
      <Show loaded={loaded} what="the connector instances">
        {({ instances, connectors, servers }) => {
          const instance = instances.find((i) => i.id === changing);
          return (
            <>
              <Writable>
                {connectors.length === 0 ? (
                  <Empty>
                    Upload a <Link href="/connectors">connector</Link> first.
                  </Empty>
                ) : (
                  <CreateInstance client={client} connectors={connectors} onCreated={reload} />
                )}
              </Writable>
              <Section id="instances" title="Instances">
                <Success>{deleted && `Deleted ${deleted}.`}</Success>
                <InstancesTable
                  client={client}
                  instances={instances}
                  connectors={connectors}
                  servers={servers}
                  changing={changing}
                  onChange={change}
                />
              </Section>
              {instance && (
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
              )}
            </>
          );
        }}
      </Show>
    </>
  );
}
