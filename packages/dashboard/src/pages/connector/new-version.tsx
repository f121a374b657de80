import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import {
  contentType,
  DocumentInput,
  InvalidDocument,
  uploadFailure,
  type InvalidDocumentOutcome,
} from '../../components/document-input.tsx';
import { Success } from '../../components/form.tsx';
import { ResourceTable, type Column } from '../../components/resource-table.tsx';
import { Link } from '../../router.tsx';
import { ErrorBox } from '../../ui.tsx';
import { Section } from '../../components/section.tsx';

type Preview = Schemas['ConnectorUpdatePreview'];

export type Connector = Schemas['ConnectorWithDescriptor'];

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
export function NewVersion({
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
