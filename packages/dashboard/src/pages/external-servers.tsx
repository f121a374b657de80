import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { ConfirmButton, Empty, ErrorBox, SecretInput, Show, useLoad, useRowAction, when } from '../ui.tsx';

type Registered = Schemas['ExternalMcpServer'];

/** A header name and its value (write-only: typed in a password field, sent once, never shown back). */
function HeaderFields({
  id,
  name,
  value,
  onName,
  onValue,
  required = false,
}: {
  id: string;
  name: string;
  value: string;
  onName: (v: string) => void;
  onValue: (v: string) => void;
  required?: boolean;
}) {
  return (
    <>
      <label htmlFor={`${id}-name`}>Header name{required ? '' : ' (optional)'}</label>
      <input
        id={`${id}-name`}
        required={required}
        autoComplete="off"
        pattern="[A-Za-z0-9!#$%&'*+.^_`|~\-]{1,100}"
        title="An HTTP header name"
        value={name}
        onChange={(e) => onName(e.target.value)}
      />
      <label htmlFor={`${id}-value`}>Header value (write-only: never shown again)</label>
      <SecretInput id={`${id}-value`} required={required || name.trim() !== ''} value={value} onValue={onValue} />
    </>
  );
}

/** Change one registered server: its name, its URL, one header set or removed; the rest is left as it is. */
function EditServer({
  client,
  server,
  onDone,
}: {
  client: ManagementClient;
  server: Registered;
  onDone: (message: string) => void;
}) {
  const [name, setName] = useState(server.name);
  const [url, setUrl] = useState(server.url);
  const [header, setHeader] = useState('');
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const patch = (body: Schemas['UpdateExternalMcpServerBody'], what: string) => {
    setBusy(true);
    setError(null);
    unwrap(client.PATCH('/external_mcp_servers/{id}', { params: { path: { id: server.id } }, body }))
      .then(
        (changed) => {
          setHeader('');
          setValue('');
          onDone(
            `${what} ${changed.name}; ${changed.usedBy.length} server${changed.usedBy.length === 1 ? '' : 's'} updated.`,
          );
        },
        (err: unknown) => setError(err),
      )
      .finally(() => setBusy(false));
  };
  const save = (e: FormEvent) => {
    e.preventDefault();
    const body: Schemas['UpdateExternalMcpServerBody'] = {
      ...(name.trim() !== server.name ? { name: name.trim() } : {}),
      ...(url.trim() !== server.url ? { url: url.trim() } : {}),
      ...(header.trim() ? { headers: { [header.trim()]: value } } : {}),
    };
    patch(body, 'Saved');
  };
  const id = `edit-${server.id}`;
  return (
    <section aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>Change {server.name}</h3>
      <form className="form" onSubmit={save}>
        <label htmlFor={`${id}-server-name`}>Name</label>
        <input
          id={`${id}-server-name`}
          required
          pattern="[a-z0-9][a-z0-9_\-]{0,49}"
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
        <label htmlFor={`${id}-url`}>URL</label>
        <input id={`${id}-url`} type="url" required value={url} onChange={(e) => setUrl(e.target.value)} />
        <p className="hint">Set one header: the others keep their values.</p>
        <HeaderFields id={`${id}-header`} name={header} value={value} onName={setHeader} onValue={setValue} />
        {error !== null && <ErrorBox error={error} title="Not saved" />}
        <button type="submit" disabled={busy}>
          {busy ? 'Saving…' : 'Save changes'}
        </button>
      </form>
      {server.headerNames.length > 0 && (
        <ul aria-label={`Headers of ${server.name}`}>
          {server.headerNames.map((h) => (
            <li key={h}>
              <code>{h}</code> (value sealed){' '}
              <button
                type="button"
                className="secondary"
                aria-label={`Remove header ${h} of ${server.name}`}
                disabled={busy}
                onClick={() => patch({ headers: { [h]: null } }, `Removed ${h} from`)}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/**
 * External MCP servers registered on the workspace: a name, a URL and headers (values write-only), used by name
 * from any MCP server (`externalMcpServers`). A change here reaches every server using it.
 */
export function ExternalServersPage({ client }: { client: ManagementClient }) {
  const [list, reload] = useLoad(() => unwrap(client.GET('/external_mcp_servers')).then((r) => r.data), [client]);
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [header, setHeader] = useState('');
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const removal = useRowAction();
  const register = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    const body = {
      name: name.trim(),
      url: url.trim(),
      headers: header.trim() ? { [header.trim()]: value } : {},
    };
    unwrap(client.POST('/external_mcp_servers', { body }))
      .then(
        (created) => {
          setName('');
          setUrl('');
          setHeader('');
          setValue('');
          setDone(
            created.listError
              ? `Registered ${created.name}, but it could not be listed: ${created.listError}`
              : `Registered ${created.name} with ${created.tools.length} tool${created.tools.length === 1 ? '' : 's'}.`,
          );
          reload();
        },
        (err: unknown) => setError(err),
      )
      .finally(() => setBusy(false));
  };
  return (
    <>
      <h1>External MCP servers</h1>
      <p className="hint">
        Registered once on the workspace and used by name from any MCP server. Header values go to the secrets store and
        never come back; changing the URL, the name or one header updates every server using it.
      </p>
      <section aria-labelledby="register-title">
        <h2 id="register-title">Register an external MCP server</h2>
        <form className="form" onSubmit={register}>
          <label htmlFor="ext-name">Name</label>
          <input
            id="ext-name"
            required
            pattern="[a-z0-9][a-z0-9_\-]{0,49}"
            title="Lower-case letters, digits, - and _"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          <label htmlFor="ext-url">URL</label>
          <input id="ext-url" type="url" required value={url} onChange={(e) => setUrl(e.target.value)} />
          <HeaderFields id="ext-header" name={header} value={value} onName={setHeader} onValue={setValue} />
          {error !== null && <ErrorBox error={error} title="Not registered" />}
          <button type="submit" disabled={busy || !name.trim() || !url.trim()}>
            {busy ? 'Registering…' : 'Register'}
          </button>
        </form>
      </section>
      {done && (
        <p className="success" role="status">
          {done}
        </p>
      )}
      <section aria-labelledby="registered-title">
        <h2 id="registered-title">Registered servers</h2>
        {removal.error !== null && <ErrorBox error={removal.error} title="Not removed" />}
        <Show loaded={list} what="the external MCP servers">
          {(servers) =>
            servers.length === 0 ? (
              <Empty>No external MCP server registered yet.</Empty>
            ) : (
              <>
                <table>
                  <caption className="visually-hidden">Registered external MCP servers</caption>
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">URL</th>
                      <th scope="col">Headers</th>
                      <th scope="col">Tools</th>
                      <th scope="col">Used by</th>
                      <th scope="col">Last listed</th>
                      <th scope="col">Actions</th>
                    </tr>
                  </thead>
                  <tbody>
                    {servers.map((s) => (
                      <tr key={s.id}>
                        <td>{s.name}</td>
                        <td>
                          <code>{s.url}</code>
                        </td>
                        <td>{s.headerNames.length === 0 ? 'none' : s.headerNames.join(', ')}</td>
                        <td>{s.tools.map((t) => t.name).join(', ') || '—'}</td>
                        <td>
                          {s.usedBy.length === 0
                            ? 'no server'
                            : s.usedBy.map((u, i) => (
                                <span key={u.id}>
                                  {i > 0 && ', '}
                                  <Link href={`/servers/${u.id}`}>{u.name}</Link>
                                </span>
                              ))}
                        </td>
                        <td>{s.listError ? `failed: ${s.listError}` : when(s.listedAt)}</td>
                        <td>
                          <button
                            type="button"
                            className="secondary"
                            aria-label={`Change ${s.name}`}
                            aria-expanded={editing === s.id}
                            onClick={() => setEditing(editing === s.id ? null : s.id)}
                          >
                            Change
                          </button>{' '}
                          <ConfirmButton
                            label="Remove"
                            name={s.name}
                            question={`Unregister ${s.name}?`}
                            confirmLabel={`Unregister ${s.name}`}
                            busy={removal.pending === s.id}
                            onConfirm={() =>
                              removal.run(
                                s.id,
                                () =>
                                  unwrap(
                                    client.DELETE('/external_mcp_servers/{id}', { params: { path: { id: s.id } } }),
                                  ),
                                reload,
                              )
                            }
                          />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                {servers
                  .filter((s) => s.id === editing)
                  .map((s) => (
                    <EditServer
                      key={`${s.id}-${s.updatedAt}`}
                      client={client}
                      server={s}
                      onDone={(message) => {
                        setDone(message);
                        reload();
                      }}
                    />
                  ))}
              </>
            )
          }
        </Show>
      </section>
    </>
  );
}
