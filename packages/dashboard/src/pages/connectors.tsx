import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import {
  contentType,
  DocumentInput,
  InvalidDocument,
  uploadFailure,
  type InvalidDocumentOutcome,
} from '../components/document-input.tsx';
import { SubmitButton, Success } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link } from '../router.tsx';
import { ErrorBox, useLoad } from '../ui.tsx';
import { Section } from '../components/section.tsx';
import { FormAndList, type CreateFormProps } from '../components/list-page.tsx';

type Result =
  { kind: 'created'; connector: Schemas['Connector'] } | InvalidDocumentOutcome | { kind: 'error'; error: unknown };

/**
 * A connector's `capabilities` and `sla` in a few words ("full_refresh sync · no schema discovery · 99.5%
 * availability · p95 1500 ms"), other keys as `key: value`; "none declared" without either block.
 */
function promisesText(c: Pick<Schemas['Connector'], 'capabilities' | 'sla'>): string {
  const parts: string[] = [];
  const rest = (block: Record<string, unknown>, known: string[]) => {
    for (const [k, v] of Object.entries(block)) if (!known.includes(k)) parts.push(`${k}: ${JSON.stringify(v)}`);
  };
  if (c.capabilities) {
    const { sync_modes, supports_schema_discovery } = c.capabilities;
    if (sync_modes) parts.push(`${sync_modes.join(', ')} sync`);
    if (supports_schema_discovery !== undefined)
      parts.push(supports_schema_discovery ? 'schema discovery' : 'no schema discovery');
    rest(c.capabilities, ['sync_modes', 'supports_schema_discovery']);
  }
  if (c.sla) {
    const { availability_percentage, latency_ms_p95 } = c.sla;
    if (availability_percentage !== undefined) parts.push(`${availability_percentage}% availability`);
    if (latency_ms_p95 !== undefined) parts.push(`p95 ${latency_ms_p95} ms`);
    rest(c.sla, ['availability_percentage', 'latency_ms_p95']);
  }
  return parts.length > 0 ? parts.join(' · ') : 'none declared';
}

function Upload({ client, onCreated }: CreateFormProps) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Result | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setResult(null);
    const sent = text;
    unwrap(
      client.POST('/connectors', {
        body: sent as unknown as Schemas['ConnectorSource'],
        bodySerializer: (body) => body as unknown as string,
        headers: { 'content-type': contentType(sent) },
      }),
    )
      .then(
        (connector) => {
          setResult({ kind: 'created', connector });
          onCreated();
        },
        (err: unknown) => setResult(uploadFailure(err, sent)),
      )
      .finally(() => setBusy(false));
  };
  return (
    <Section id="upload" title="Add a connector">
      <form onSubmit={submit} className="form">
        <DocumentInput
          id="connector"
          text={text}
          onText={setText}
          onError={(error) => setResult({ kind: 'error', error })}
        />
        <SubmitButton busy={busy} disabled={text.trim() === ''} busyLabel="Uploading…">
          Upload connector
        </SubmitButton>
      </form>
      {result?.kind === 'created' && (
        <Success>
          Created <strong>{result.connector.name}</strong> {result.connector.version} with{' '}
          {result.connector.tools.length} tools. <Link href="/instances">Create an instance of it</Link>.
        </Success>
      )}
      {result?.kind === 'error' && <ErrorBox error={result.error} title="Upload failed" />}
      {result?.kind === 'invalid' && <InvalidDocument outcome={result} />}
    </Section>
  );
}

const columns: Column<Schemas['Connector']>[] = [
  { header: 'Name', cell: (c) => <Link href={`/connectors/${c.id}`}>{c.name}</Link> },
  { header: 'Slug', cell: (c) => <code>{c.slug}</code> },
  { header: 'Version', cell: (c) => c.version },
  { header: 'Kind', cell: (c) => c.kind },
  { header: 'Tools', cell: (c) => (c.tools.length > 0 ? c.tools.join(', ') : 'none (MCP not enabled)') },
  { header: 'Capabilities and SLA', cell: promisesText },
];

export function ConnectorsPage({ client }: { client: ManagementClient }) {
  const [connectors, reload] = useLoad(() => unwrap(client.GET('/connectors')).then((r) => r.data), [client]);
  return (
    <>
      <h1>Connectors</h1>
      <FormAndList
        form={<Upload client={client} onCreated={reload} />}
        section={{ id: 'connectors', title: 'Connectors of the workspace' }}
      >
        <ResourceTable
          loaded={connectors}
          what="the connectors"
          caption="Connectors"
          columns={columns}
          empty={
            <>
              No connector yet: upload a descriptor or an OpenAPI document above, or add an API from the{' '}
              <Link href="/catalog">API catalog</Link>.
            </>
          }
        />
      </FormAndList>
    </>
  );
}
