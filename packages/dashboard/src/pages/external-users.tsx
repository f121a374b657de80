import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { Link } from '../router.tsx';
import { ConfirmButton, Empty, ErrorBox, Show, useLoad, when } from '../ui.tsx';

/** `name=value` lines → attributes; a line without `=` is an error naming it. */
export function parseAttributes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`line ${i + 1}: write name=value`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** Attributes → `name=value` lines, as `parseAttributes` reads them. */
export function formatAttributes(attributes: Record<string, string>): string {
  return Object.entries(attributes)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}

export function ExternalUsersPage({ client }: { client: ManagementClient }) {
  const [users, reload] = useLoad(() => unwrap(client.GET('/external_users')).then((r) => r.data), [client]);
  const [name, setName] = useState('');
  const [attributes, setAttributes] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone(null);
    let attrs: Record<string, string>;
    try {
      attrs = parseAttributes(attributes);
    } catch (err) {
      setError(err);
      return;
    }
    setBusy(true);
    unwrap(client.POST('/external_users', { body: { name: name.trim(), attributes: attrs } }))
      .then(
        (user) => {
          setDone(`Created ${user.name}.`);
          setName('');
          setAttributes('');
          reload();
        },
        (err: unknown) => setError(err),
      )
      .finally(() => setBusy(false));
  };
  const remove = (userName: string) => {
    setDeleting(userName);
    setError(null);
    setDone(null);
    unwrap(client.DELETE('/external_users/{name}', { params: { path: { name: userName } } }))
      .then(
        () => {
          setDone(`Deleted ${userName}.`);
          reload();
        },
        (err: unknown) => setError(err),
      )
      .finally(() => setDeleting(null));
  };
  return (
    <>
      <h1>External users</h1>
      <p className="hint">
        The people your application calls tools for (<code>x-username</code>): each may have their own credentials;
        attributes are what workflows read as <code>$current_user.&lt;name&gt;</code>. Open a user to edit their
        attributes, connections, MCP connections and secrets.
      </p>
      <section aria-labelledby="create-user-title">
        <h2 id="create-user-title">Create an external user</h2>
        <form className="form" onSubmit={submit}>
          <label htmlFor="user-name">Name</label>
          <input id="user-name" required value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
          <label htmlFor="user-attributes">Attributes (optional, one name=value a line)</label>
          <textarea
            id="user-attributes"
            className="code"
            rows={3}
            value={attributes}
            onChange={(e) => setAttributes(e.target.value)}
          />
          {error !== null && <ErrorBox error={error} title="Not done" />}
          <button type="submit" disabled={busy || !name.trim()}>
            {busy ? 'Creating…' : 'Create user'}
          </button>
        </form>
        {done && (
          <p className="success" role="status">
            {done}
          </p>
        )}
      </section>
      <section aria-labelledby="users-title">
        <h2 id="users-title">Users</h2>
        <Show loaded={users} what="the external users">
          {(list) =>
            list.length === 0 ? (
              <Empty>No external user yet.</Empty>
            ) : (
              <table>
                <caption className="visually-hidden">External users of the workspace</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Attributes</th>
                    <th scope="col">Connections</th>
                    <th scope="col">Created</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((u) => (
                    <tr key={u.id}>
                      <td>
                        <Link href={`/external-users/${encodeURIComponent(u.name)}`}>{u.name}</Link>
                      </td>
                      <td>
                        {Object.entries(u.attributes)
                          .map(([k, v]) => `${k}=${v}`)
                          .join(', ') || '—'}
                      </td>
                      <td>{u.connections.length}</td>
                      <td>{when(u.createdAt)}</td>
                      <td>
                        <ConfirmButton
                          label="Delete"
                          name={u.name}
                          question={`Delete ${u.name} and their credentials?`}
                          confirmLabel={`Delete ${u.name}`}
                          busy={deleting === u.name}
                          onConfirm={() => remove(u.name)}
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
