import { useRef, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { navigate } from '../router.tsx';
import { ConfirmButton, Empty, ErrorBox, SecretInput, Show, useLoad, when } from '../ui.tsx';

type Secret = Schemas['WorkspaceSecret'] | Schemas['ServerSecret'];

/**
 * Workspace secrets, or one server's (`?server=<id>`): names, versions and dates only. Values are write-only: typed
 * in a password field, sent once, and cleared from the page as soon as the store has them.
 */
export function SecretsPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const serverId = query.get('server') ?? '';
  const [servers] = useLoad(() => unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })), [client]);
  const [secrets, reload] = useLoad(
    (): Promise<Secret[]> =>
      serverId
        ? unwrap(client.GET('/mcp_servers/{id}/secrets', { params: { path: { id: serverId } } })).then((r) => r.data)
        : unwrap(client.GET('/secrets')).then((r) => r.data),
    [client, serverId],
  );
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const valueRef = useRef<HTMLInputElement>(null);
  const known = secrets.state === 'done' ? secrets.data.map((s) => s.name) : [];
  const scopeLabel =
    serverId && servers.state === 'done'
      ? `server ${servers.data.data.find((s) => s.id === serverId)?.name ?? serverId}`
      : serverId
        ? `server ${serverId}`
        : 'workspace';
  const save = (e: FormEvent) => {
    e.preventDefault();
    const secretName = name.trim();
    const rotating = known.includes(secretName);
    setBusy(true);
    setError(null);
    setDone(null);
    const body = { value };
    const call: Promise<Secret> = serverId
      ? unwrap(
          client.PUT('/mcp_servers/{id}/secrets/{name}', {
            params: { path: { id: serverId, name: secretName } },
            body,
          }),
        )
      : unwrap(client.PUT('/secrets/{name}', { params: { path: { name: secretName } }, body }));
    call
      .then(
        () => {
          setValue('');
          setName('');
          setDone(`${rotating ? 'Rotated' : 'Created'} ${secretName}. Its value is not shown again.`);
          reload();
        },
        (err: unknown) => setError(err),
      )
      .finally(() => setBusy(false));
  };
  const remove = (secretName: string) => {
    setDeleting(secretName);
    setError(null);
    setDone(null);
    const call: Promise<unknown> = serverId
      ? unwrap(
          client.DELETE('/mcp_servers/{id}/secrets/{name}', { params: { path: { id: serverId, name: secretName } } }),
        )
      : unwrap(client.DELETE('/secrets/{name}', { params: { path: { name: secretName } } }));
    call
      .then(
        () => {
          setDone(`Deleted ${secretName}.`);
          reload();
        },
        (err: unknown) => setError(err),
      )
      .finally(() => setDeleting(null));
  };
  return (
    <>
      <h1>Secrets</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="secrets-of">Show the secrets of</label>
          <select
            id="secrets-of"
            value={serverId}
            onChange={(e) =>
              navigate(e.target.value ? `/secrets?server=${encodeURIComponent(e.target.value)}` : '/secrets')
            }
          >
            <option value="">The workspace</option>
            {servers.state === 'done' &&
              servers.data.data.map((s) => (
                <option key={s.id} value={s.id}>
                  Server {s.name}
                </option>
              ))}
          </select>
        </div>
      </form>
      {servers.state === 'error' && <ErrorBox error={servers.error} title="Could not load the servers" />}
      <p className="hint">
        {serverId
          ? 'A server’s secrets are what its workflows read as $secrets.NAME (before a workspace secret of the same name).'
          : 'Workspace secrets are shared by the workspace’s servers: a workflow reads $secrets.NAME here when its server has no secret of that name.'}{' '}
        Values go straight to the secrets store and never come back.
      </p>
      <section aria-labelledby="set-secret-title">
        <h2 id="set-secret-title">Set or rotate a secret of the {scopeLabel}</h2>
        <form className="form" onSubmit={save}>
          <label htmlFor="secret-name">Name</label>
          <input
            id="secret-name"
            required
            pattern="[A-Za-z0-9_\-]{1,128}"
            title="Letters, digits, _ and -, at most 128"
            autoComplete="off"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          <label htmlFor="secret-value">Value (write-only: never shown again)</label>
          <SecretInput id="secret-value" inputRef={valueRef} required value={value} onValue={setValue} />
          <p className="hint">
            {known.includes(name.trim())
              ? `${name.trim()} exists: saving rotates it (the current value stays as the previous version).`
              : 'A new name creates the secret; an existing one is rotated.'}
          </p>
          {error !== null && <ErrorBox error={error} title="Not saved" />}
          <button type="submit" disabled={busy || !name.trim() || value === ''}>
            {busy ? 'Saving…' : 'Save secret'}
          </button>
        </form>
        {done && (
          <p className="success" role="status">
            {done}
          </p>
        )}
      </section>
      <section aria-labelledby="secrets-title">
        <h2 id="secrets-title">Secrets of the {scopeLabel}</h2>
        <Show loaded={secrets} what="the secrets">
          {(list) =>
            list.length === 0 ? (
              <Empty>No secret yet.</Empty>
            ) : (
              <table>
                <caption className="visually-hidden">Secrets of the {scopeLabel}</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Version</th>
                    <th scope="col">Versions kept</th>
                    <th scope="col">Created</th>
                    <th scope="col">Updated</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((s) => (
                    <tr key={s.name}>
                      <td>
                        <code>{s.name}</code>
                      </td>
                      <td>
                        <code>{s.version.slice(0, 12)}</code>
                      </td>
                      <td>{s.versions.map((v) => v.stages.join('+') || 'old').join(', ')}</td>
                      <td>{when(s.created_at)}</td>
                      <td>{when(s.updated_at)}</td>
                      <td>
                        <button
                          type="button"
                          className="secondary"
                          aria-label={`Rotate ${s.name}`}
                          onClick={() => {
                            setName(s.name);
                            valueRef.current?.focus();
                          }}
                        >
                          Rotate
                        </button>{' '}
                        <ConfirmButton
                          label="Delete"
                          name={s.name}
                          question={`Delete ${s.name}? Tools reading it will fail.`}
                          confirmLabel={`Delete ${s.name}`}
                          busy={deleting === s.name}
                          onConfirm={() => remove(s.name)}
                        />
                      </td>
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
