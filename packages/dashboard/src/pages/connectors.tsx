import { useState, type ChangeEvent, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../api.ts';
import { DocumentView, IssueList, placeIssues, type PlacedIssue } from '../document-view.tsx';
import { Link } from '../router.tsx';
import { Empty, ErrorBox, Show, useLoad } from '../ui.tsx';

type Result =
  | { kind: 'created'; connector: Schemas['Connector'] }
  | { kind: 'invalid'; message: string; text: string; issues: PlacedIssue[] }
  | { kind: 'error'; error: unknown };

/** JSON when the text starts like JSON, else YAML (a superset the API reads too). */
export function contentType(text: string): string {
  return /^\s*[{[]/.test(text) ? 'application/json' : 'application/yaml';
}

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

function Upload({ client, onCreated }: { client: ManagementClient; onCreated: () => void }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Result | null>(null);
  const readFile = (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    if (file) file.text().then(setText, (err: unknown) => setResult({ kind: 'error', error: err }));
  };
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
        (err: unknown) =>
          setResult(
            err instanceof ApiError && err.status === 422
              ? { kind: 'invalid', message: err.message, text: sent, issues: placeIssues(sent, err.issues) }
              : { kind: 'error', error: err },
          ),
      )
      .finally(() => setBusy(false));
  };
  return (
    <section aria-labelledby="upload-title">
      <h2 id="upload-title">Add a connector</h2>
      <form onSubmit={submit} className="form">
        <label htmlFor="connector-file">Descriptor or OpenAPI document file (YAML or JSON)</label>
        <input
          id="connector-file"
          type="file"
          accept=".yaml,.yml,.json,application/json,application/yaml"
          onChange={readFile}
        />
        <label htmlFor="connector-text">Or paste it</label>
        <textarea
          id="connector-text"
          className="code"
          rows={14}
          spellCheck={false}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <button type="submit" disabled={busy || text.trim() === ''}>
          {busy ? 'Uploading…' : 'Upload connector'}
        </button>
      </form>
      {result?.kind === 'created' && (
        <p className="success" role="status">
          Created <strong>{result.connector.name}</strong> {result.connector.version} with{' '}
          {result.connector.tools.length} tools. <Link href="/instances">Create an instance of it</Link>.
        </p>
      )}
      {result?.kind === 'error' && <ErrorBox error={result.error} title="Upload failed" />}
      {result?.kind === 'invalid' && (
        <div className="invalid">
          <div className="error" role="alert">
            <strong>The document is invalid</strong> ({result.message}): {result.issues.length} problem
            {result.issues.length === 1 ? '' : 's'}.
          </div>
          <IssueList issues={result.issues} label="Problems of the document" />
          <DocumentView text={result.text} issues={result.issues} label="The submitted document, problems marked" />
        </div>
      )}
    </section>
  );
}

export function ConnectorsPage({ client }: { client: ManagementClient }) {
  const [connectors, reload] = useLoad(() => unwrap(client.GET('/connectors')), [client]);
  return (
    <>
      <h1>Connectors</h1>
      <Upload client={client} onCreated={reload} />
      <section aria-labelledby="connectors-title">
        <h2 id="connectors-title">Connectors of the workspace</h2>
        <Show loaded={connectors} what="the connectors">
          {(list) =>
            list.data.length === 0 ? (
              <Empty>
                No connector yet: upload a descriptor or an OpenAPI document above, or add an API from the{' '}
                <Link href="/catalog">API catalog</Link>.
              </Empty>
            ) : (
              <table>
                <caption className="visually-hidden">Connectors</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Slug</th>
                    <th scope="col">Version</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Tools</th>
                    <th scope="col">Capabilities and SLA</th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.map((c) => (
                    <tr key={c.id}>
                      <td>
                        <Link href={`/connectors/${c.id}`}>{c.name}</Link>
                      </td>
                      <td>
                        <code>{c.slug}</code>
                      </td>
                      <td>{c.version}</td>
                      <td>{c.kind}</td>
                      <td>{c.tools.length > 0 ? c.tools.join(', ') : 'none (MCP not enabled)'}</td>
                      <td>{promisesText(c)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </Show>
      </section>
    </>
  );
}
