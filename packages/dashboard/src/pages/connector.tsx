import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, errorMessage, unwrap, type Schemas } from '../api.ts';
import {
  contentType,
  DocumentInput,
  InvalidDocument,
  uploadFailure,
  type InvalidDocumentOutcome,
} from '../components/document-input.tsx';
import { Success } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link, navigate } from '../router.tsx';
import { ConfirmButton, ErrorBox, Show, useLoad, when } from '../ui.tsx';
import { Writable } from '../powers.tsx';
import { Section } from '../components/section.tsx';
import { Facts } from '../components/facts.tsx';

type Preview = Schemas['ConnectorUpdatePreview'];
type Connector = Schemas['ConnectorWithDescriptor'];
type ServerEffect = Preview['servers'][number];

type Outcome =
  | { kind: 'previewed'; text: string; preview: Preview }
  | { kind: 'saved'; connector: Schemas['Connector']; servers: number }
  | InvalidDocumentOutcome
  | { kind: 'error'; error: unknown };

const fieldNames: Record<string, string> = {
  title: 'title',
  description: 'description',
  inputSchema: 'input schema',
  outputSchema: 'output schema',
  annotations: 'annotations',
  request: 'upstream request',
};

const names = (list: string[]) => (list.length === 0 ? 'none' : list.join(', '));

const effectColumns: Column<ServerEffect>[] = [
  {
    header: 'Server',
    rowHeader: true,
    cell: (s) => (
      <>
        <Link href={`/servers/${s.id}`}>{s.name}</Link> ({s.mode}){s.renamedTo && <> → renamed {s.renamedTo}</>}
      </>
    ),
  },
  { header: 'Tools added', cell: (s) => names(s.added) },
  { header: 'Tools removed', cell: (s) => names(s.removed) },
  {
    header: 'Tools changed',
    cell: (s) =>
      s.changed.length === 0 ? (
        'none'
      ) : (
        <ul className="changes">
          {s.changed.map((c) => (
            <li key={c.name}>
              <code>{c.name}</code>: {c.fields.map((f) => fieldNames[f] ?? f).join(', ')}
            </li>
          ))}
        </ul>
      ),
  },
];

/** What the new version does to each server's tools, from the dry run: added, removed, changed (and what of them). */
function Effects({ preview }: { preview: Preview }) {
  return (
    <ResourceTable
      rows={preview.servers}
      columns={effectColumns}
      rowData={(s) => ({ server: s.name })}
      label="What the new version does to the servers’ tools"
      empty="No server uses this connector: no server’s tools change."
    />
  );
}

/**
 * The state of a new version: the text, the dry run (`PUT …?dry_run=true`) that shows its problems at their lines
 * or what it does to each server's tools, and the save that sends the same text again.
 */
function useNewVersion(client: ManagementClient, connector: Connector, onSaved: () => void) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState<'preview' | 'save' | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const put = (sent: string, dryRun: boolean) =>
    unwrap(
      client.PUT('/connectors/{id}', {
        params: { path: { id: connector.id }, query: dryRun ? { dry_run: 'true' } : {} },
        body: sent as unknown as Schemas['ConnectorSource'],
        bodySerializer: (body) => body as unknown as string,
        headers: { 'content-type': contentType(sent) },
      }),
    );
  const failed = (sent: string) => (err: unknown) => setOutcome(uploadFailure(err, sent));
  const preview = () => {
    const sent = text;
    setBusy('preview');
    setOutcome(null);
    put(sent, true)
      .then((answer) => {
        if ('state' in answer) setOutcome({ kind: 'previewed', text: sent, preview: answer });
        else failed(sent)(new Error('the dry run changed the connector'));
      }, failed(sent))
      .finally(() => setBusy(null));
  };
  const save = (previewed: Preview) => {
    const sent = text;
    setBusy('save');
    put(sent, false)
      .then((answer) => {
        if ('state' in answer) return;
        setOutcome({ kind: 'saved', connector: answer, servers: previewed.servers.length });
        setText('');
        onSaved();
      }, failed(sent))
      .finally(() => setBusy(null));
  };
  // A preview holds for the text it was made of: editing the text asks for a new one.
  const current = outcome?.kind === 'previewed' && outcome.text === text ? outcome.preview : null;
  const fail = (error: unknown) => setOutcome({ kind: 'error', error });
  return { text, setText, busy, outcome, current, preview, save, fail };
}

/** The dry run's answer: the version it would be, and its effects on the servers; saving it. */
function PreviewSection(props: { connector: Connector; current: Preview; busy: boolean; onSave: () => void }) {
  const { connector, current } = props;
  return (
    <section aria-labelledby="preview-title">
      <h3 id="preview-title">Preview</h3>
      <Success>
        Valid: {current.connector.name} {connector.version} → <strong>{current.connector.version}</strong>, tools{' '}
        {current.connector.tools.join(', ') || 'none'}. Nothing is saved yet.
      </Success>
      <Effects preview={current} />
      <button type="button" disabled={props.busy} onClick={props.onSave}>
        {props.busy ? 'Saving…' : `Save version ${current.connector.version}`}
      </button>
    </section>
  );
}

/** A new version of the connector: previewed first, then saved. */
function NewVersion({
  client,
  connector,
  onSaved,
}: {
  client: ManagementClient;
  connector: Connector;
  onSaved: () => void;
}) {
  const v = useNewVersion(client, connector, onSaved);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    v.preview();
  };
  const outcome = v.outcome;
  return (
    <Section id="new-version" title="Upload a new version">
      <p className="hint">
        The same slug ({connector.slug}) and kind (
        {connector.kind === 'openapi' ? 'an OpenAPI document' : 'a descriptor'}
        ). Preview it first: the servers built on the connector get a new catalog version when it is saved.
      </p>
      <form onSubmit={submit} className="form">
        <DocumentInput id="version" text={v.text} onText={v.setText} onError={v.fail} />
        <div className="buttons">
          {connector.kind === 'descriptor' && (
            <button
              type="button"
              className="secondary"
              onClick={() => v.setText(JSON.stringify(connector.descriptor, null, 2))}
            >
              Start from the current descriptor
            </button>
          )}
          <button type="submit" disabled={v.busy !== null || v.text.trim() === ''}>
            {v.busy === 'preview' ? 'Checking…' : 'Preview the change'}
          </button>
        </div>
      </form>
      {v.current && (
        <PreviewSection
          connector={connector}
          current={v.current}
          busy={v.busy !== null}
          onSave={() => v.current && v.save(v.current)}
        />
      )}
      {outcome?.kind === 'saved' && (
        <Success>
          Saved {outcome.connector.name} {outcome.connector.version}
          {outcome.servers > 0 ? `: ${outcome.servers} server(s) got a new catalog version.` : '.'}
        </Success>
      )}
      {outcome?.kind === 'error' && <ErrorBox error={outcome.error} title="Not saved" />}
      {outcome?.kind === 'invalid' && <InvalidDocument outcome={outcome} />}
    </Section>
  );
}

/** What deleting the connector takes away: its instances, the servers generated for them, the others' tools. */
function DeleteConsequences({
  instances,
  servers,
}: {
  instances: Schemas['ConnectorInstance'][];
  servers: Schemas['McpServerSummary'][];
}) {
  // The servers generated for the instances (the descriptor's mcp_config) go with them; others stay, without tools.
  const generated = servers.filter((s) => instances.some((i) => i.mcp_server_id === s.id));
  const bound = servers.filter((s) => instances.some((i) => i.id === s.connectorInstanceId) && !generated.includes(s));
  const other = generated.length > 0 ? 'other ' : '';
  if (instances.length === 0) return <li>No connector instance uses it: only the connector goes.</li>;
  return (
    <>
      <li>
        Its {instances.length} connector instance(s) are deleted with it (<code>force=true</code>), with their
        credentials: {instances.map((i) => i.name).join(', ')}.
      </li>
      {generated.length > 0 && (
        <li>
          The MCP servers generated for them (the descriptor’s <code>mcp_config</code>) are deleted too, their URLs then
          answer 404: {generated.map((s) => s.name).join(', ')}.
        </li>
      )}
      <li>
        {bound.length === 0
          ? `No ${other}server is built on them.`
          : `The ${other}servers built on them keep existing without their tools (with a warning): ${bound
              .map((s) => s.name)
              .join(', ')}.`}
      </li>
      <li>SMART servers no longer find their tools; servers that chose them by name lose them.</li>
    </>
  );
}

/**
 * Deleting the connector, with its consequence spelled out: the instances using it go with it (`force=true`), their
 * credentials too, and the servers built on them lose their tools.
 */
function DeleteConnector({
  client,
  connector,
  instances,
  servers,
}: {
  client: ManagementClient;
  connector: Connector;
  instances: Schemas['ConnectorInstance'][];
  servers: Schemas['McpServerSummary'][];
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const remove = () => {
    setBusy(true);
    setError(null);
    unwrap(
      client.DELETE('/connectors/{id}', {
        params: { path: { id: connector.id }, query: instances.length > 0 ? { force: 'true' } : {} },
      }),
    ).then(
      () => navigate('/connectors'),
      (err: unknown) => {
        setError(err);
        setBusy(false);
      },
    );
  };
  return (
    <section aria-labelledby="delete-title" className="danger-zone">
      <h2 id="delete-title">Delete this connector</h2>
      <ul aria-label="What deleting the connector takes away">
        <DeleteConsequences instances={instances} servers={servers} />
      </ul>
      {error !== null && <ErrorBox error={error} title="Not deleted" />}
      <ConfirmButton
        label="Delete connector"
        name={connector.name}
        question={
          instances.length > 0
            ? `Delete ${connector.name} and its ${instances.length} instance(s)?`
            : `Delete ${connector.name}?`
        }
        confirmLabel={`Delete ${connector.name}`}
        busy={busy}
        onConfirm={remove}
      />
    </section>
  );
}

function ConnectorFacts({ connector, instances }: { connector: Connector; instances: Schemas['ConnectorInstance'][] }) {
  return (
    <Facts
      facts={[
        ['Slug', <code>{connector.slug}</code>],
        ['Kind', connector.kind === 'openapi' ? 'OpenAPI document' : 'descriptor'],
        ['Registered', when(connector.createdAt)],
        ['Tools', connector.tools.join(', ') || 'none (MCP not enabled)'],
        [
          'Instances',
          instances.length === 0 ? 'none' : <Link href="/instances">{instances.map((i) => i.name).join(', ')}</Link>,
        ],
      ]}
    />
  );
}

/** `/connectors/{id}`: a connector, its instances and the servers on them; a new version; deletion. */
export function ConnectorPage({ client, id }: { client: ManagementClient; id: string }) {
  const [loaded, reload] = useLoad(async () => {
    const [connector, instances, servers] = await Promise.all([
      unwrap(client.GET('/connectors/{id}', { params: { path: { id } } })),
      unwrap(client.GET('/connector_instances')),
      unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })),
    ]);
    return {
      connector,
      instances: instances.data.filter((i) => i.connector_id === connector.id),
      servers: servers.data,
    };
  }, [client, id]);
  return (
    <>
      <p className="crumbs">
        <Link href="/connectors">Connectors</Link> / {loaded.state === 'done' ? loaded.data.connector.name : id}
      </p>
      <Show loaded={loaded} what="the connector">
        {({ connector, instances, servers }) => (
          <>
            <h1>
              {connector.name} {connector.version}
            </h1>
            <ConnectorFacts connector={connector} instances={instances} />
            <Writable>
              <NewVersion client={client} connector={connector} onSaved={reload} />
              <DeleteConnector client={client} connector={connector} instances={instances} servers={servers} />
            </Writable>
          </>
        )}
      </Show>
      {loaded.state === 'error' && loaded.error instanceof ApiError && loaded.error.status === 404 && (
        <p>
          {errorMessage(loaded.error)}: <Link href="/connectors">back to the connectors</Link>.
        </p>
      )}
    </>
  );
}
