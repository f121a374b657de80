import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../api.ts';
import { useAction } from '../components/action.ts';
import { ActionError, SelectField, Success, TextField, FormEnd } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Writable } from '../powers.tsx';
import { Link } from '../router.tsx';
import { SecretInput, useLoad, when } from '../ui.tsx';
import { FormSection } from '../components/section.tsx';
import { DeleteButton } from '../components/delete-button.tsx';
import type { CreateFormProps } from '../components/list-page.tsx';

type Exporter = Schemas['AuditExporter'];
type Status = Schemas['AuditExporterStatus'];
type Row = Exporter & { status: Status };
type Kind = Exporter['target']['type'];

const kinds: Record<Kind, string> = { syslog: 'Syslog', splunk_hec: 'Splunk HEC', webhook: 'Webhook' };

function targetText(t: Exporter['target']): string {
  if (t.type === 'syslog') return `${t.host}:${t.port} (${t.tls ? 'TLS' : 'TCP'}, ${t.format.toUpperCase()})`;
  return t.url;
}

/** The newest error of the exporter's chains, and when it happened. */
function lastError(s: Status): { text: string; at: string | null } | null {
  const failing = s.cursors.filter((c) => c.lastError !== null);
  const newest = failing.sort((a, b) => (b.lastErrorAt ?? '').localeCompare(a.lastErrorAt ?? ''))[0];
  if (newest) return { text: newest.lastError!, at: newest.lastErrorAt };
  return s.lastError ? { text: s.lastError, at: null } : null;
}

const columns: Column<Row>[] = [
  { header: 'Name', cell: (r) => r.name, rowHeader: true },
  { header: 'Kind', cell: (r) => kinds[r.target.type] },
  { header: 'Target', cell: (r) => <code>{targetText(r.target)}</code> },
  {
    header: 'Status',
    cell: (r) => (
      <span className={`outcome ${{ ok: 'success', failing: 'failed', disabled: '' }[r.status.state]}`}>
        {r.status.state}
      </span>
    ),
  },
  {
    header: 'Delivered up to',
    cell: (r) => (r.status.cursors.length === 0 ? 'nothing yet' : r.status.cursors.map((c) => `#${c.seq}`).join(', ')),
  },
  { header: 'Backlog', cell: (r) => r.status.cursors.reduce((n, c) => n + c.lag, 0) },
  { header: 'Dead letters', cell: (r) => r.status.deadLetters.length },
  {
    header: 'Last error',
    cell: (r) => {
      const error = lastError(r.status);
      return error ? `${error.text}${error.at ? ` (${when(error.at)})` : ''}` : '—';
    },
  },
];

/** The target a form describes: syslog by host and port, HEC and webhook by URL with their sealed value. */
interface Draft {
  name: string;
  kind: Kind;
  url: string;
  host: string;
  port: string;
  tls: boolean;
  format: 'json' | 'cef';
  secret: string;
}
const emptyDraft: Draft = {
  name: '',
  kind: 'webhook',
  url: '',
  host: '',
  port: '6514',
  tls: true,
  format: 'json',
  secret: '',
};

function bodyOf(d: Draft): Schemas['CreateAuditExporterBody'] {
  const secret = d.secret ? d.secret : undefined;
  const target: Schemas['CreateAuditExporterBody']['target'] =
    d.kind === 'syslog'
      ? { type: 'syslog', host: d.host.trim(), port: Number(d.port), tls: d.tls, format: d.format }
      : d.kind === 'splunk_hec'
        ? { type: 'splunk_hec', url: d.url.trim(), ...(secret ? { token: secret } : {}) }
        : { type: 'webhook', url: d.url.trim(), ...(secret ? { secret } : {}) };
  return { name: d.name.trim(), target };
}

function TargetFields({ draft, set }: { draft: Draft; set: (d: Partial<Draft>) => void }) {
  if (draft.kind === 'syslog')
    return (
      <>
        <TextField id="exporter-host" label="Host" required value={draft.host} onValue={(host) => set({ host })} />
        <TextField
          id="exporter-port"
          label="Port"
          required
          inputMode="numeric"
          value={draft.port}
          onValue={(port) => set({ port })}
        />
        <label>
          <input type="checkbox" checked={draft.tls} onChange={(e) => set({ tls: e.target.checked })} /> TLS (RFC 5425)
        </label>
        <SelectField
          id="exporter-format"
          label="Format"
          value={draft.format}
          onValue={(v) => set({ format: v as Draft['format'] })}
          options={[
            { value: 'json', label: 'JSON' },
            { value: 'cef', label: 'CEF' },
          ]}
        />
      </>
    );
  return (
    <>
      <TextField id="exporter-url" label="URL" required type="url" value={draft.url} onValue={(url) => set({ url })} />
      <label htmlFor="exporter-secret">
        {draft.kind === 'splunk_hec' ? 'HEC token' : 'HMAC key'} (write-only, sealed; shown nowhere)
      </label>
      <SecretInput id="exporter-secret" required value={draft.secret} onValue={(secret) => set({ secret })} />
    </>
  );
}

function CreateExporter({ client, onCreated }: CreateFormProps) {
  const action = useAction();
  const [draft, setDraft] = useState<Draft>(emptyDraft);
  const set = (d: Partial<Draft>) => setDraft((old) => ({ ...old, ...d }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    action.run(() => unwrap(client.POST('/audit_exporters', { body: bodyOf(draft) })), {
      then: (created) => {
        setDraft(emptyDraft);
        onCreated();
        return `Exporter ${created.name} created: the trail goes out from its first event.`;
      },
      failed: 'Not created',
    });
  };
  return (
    <FormSection id="create-exporter" title="Add an exporter" onSubmit={submit} done={action.done}>
      <TextField id="exporter-name" label="Name" required value={draft.name} onValue={(name) => set({ name })} />
      <SelectField
        id="exporter-kind"
        label="Kind"
        value={draft.kind}
        onValue={(v) => set({ kind: v as Kind })}
        options={Object.entries(kinds).map(([value, label]) => ({ value, label }))}
      />
      <TargetFields draft={draft} set={set} />
      <FormEnd action={action} failed="Not created" disabled={!draft.name.trim()} busyLabel="Creating…">
        Create exporter
      </FormEnd>
    </FormSection>
  );
}

/** The exporters with their delivery (`GET /audit_exporters/{id}/status` each). */
function useExporters(client: ManagementClient) {
  return useLoad(async () => {
    const { data } = await unwrap(client.GET('/audit_exporters')).catch((err: unknown) => {
      if (err instanceof ApiError && err.status === 403)
        throw new Error('This credential cannot read the audit exporters: it needs the "audit" scope.');
      throw err;
    });
    const statuses = await Promise.all(
      data.map((e) => unwrap(client.GET('/audit_exporters/{id}/status', { params: { path: { id: e.id } } }))),
    );
    return data.map((e, i): Row => ({ ...e, status: statuses[i]! }));
  }, [client]);
}

/**
 * The trail's exporters (ADR 0065): where each sends the workspace's events, how far its receiver acknowledged, what
 * is still to send, its dead letters and its last error (an untrusted certificate shows as `failing`). Those who may
 * change the trail's settings (admins, keys with the `audit` scope) add, pause, resume and delete them.
 */
export function AuditExportersPage({ client }: { client: ManagementClient }) {
  const [rows, reload] = useExporters(client);
  const action = useAction();
  const toggle = (r: Row) =>
    action.run(
      () =>
        unwrap(
          client.PATCH('/audit_exporters/{id}', { params: { path: { id: r.id } }, body: { enabled: !r.enabled } }),
        ),
      {
        row: r.id,
        failed: 'Not changed',
        then: (e) => {
          reload();
          return `${e.name} ${e.enabled ? 'resumed' : 'paused'}.`;
        },
      },
    );
  const remove = (r: Row) =>
    action.run(() => unwrap(client.DELETE('/audit_exporters/{id}', { params: { path: { id: r.id } } })), {
      row: r.id,
      failed: 'Not deleted',
      then: () => {
        reload();
        return `${r.name} deleted.`;
      },
    });
  return (
    <>
      <h1>Audit exporters</h1>
      <p className="lead">
        Each exporter pushes the <Link href="/audit">audit trail</Link> to a SIEM (syslog, Splunk HEC, a signed
        webhook), every event as hashed, in order, at least once: a receiver that is down gets the backlog once it is
        back.
      </p>
      <p>
        <button type="button" className="secondary" onClick={reload}>
          Refresh
        </button>
      </p>
      <ActionError action={action} title="Not done" />
      <Success>{action.done}</Success>
      <ResourceTable
        loaded={rows}
        what="the audit exporters"
        columns={columns}
        caption="Audit exporters and their delivery"
        empty="No exporter: the trail is only read here and through the API."
        actions={(r) => (
          <>
            <button type="button" className="secondary" disabled={action.busy} onClick={() => toggle(r)}>
              {r.enabled ? 'Pause' : 'Resume'} <span className="visually-hidden">{r.name}</span>
            </button>{' '}
            <DeleteButton
              name={r.name}
              then="Its cursor and dead letters go with it."
              busy={action.pending === r.id}
              onConfirm={() => remove(r)}
            />
          </>
        )}
      />
      <Writable>
        <CreateExporter client={client} onCreated={reload} />
      </Writable>
    </>
  );
}
