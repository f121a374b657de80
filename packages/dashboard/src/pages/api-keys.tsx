import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { storedKey, unwrap, type Schemas } from '../api.ts';
import { ConfirmButton, Empty, ErrorBox, OneTimeKey, Show, useLoad, useRowAction, when } from '../ui.tsx';

type Scope = Schemas['ApiKey']['scopes'][number];
const scopes: { scope: Scope; help: string }[] = [
  { scope: 'management', help: 'this management API' },
  { scope: 'runtime', help: 'the MCP endpoints' },
  { scope: 'admin', help: 'create workspaces' },
  { scope: 'server_admin', help: 'change what its servers expose' },
];

/** The new key, shown once. */
function NewKey({ created, onDone }: { created: Schemas['CreatedApiKey']; onDone: () => void }) {
  return (
    <OneTimeKey
      id="new-key"
      title={`Key ${created.name} created`}
      label={`The key ${created.name}`}
      value={created.key}
      onDone={onDone}
    >
      <strong>Copy it now: it is shown only this once.</strong> Toolplane keeps only a hash of it; if it is lost, create
      another key and revoke this one.
    </OneTimeKey>
  );
}

function CreateKey({
  client,
  servers,
  onCreated,
}: {
  client: ManagementClient;
  servers: Schemas['McpServerSummary'][];
  onCreated: () => void;
}) {
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<Scope[]>(['management', 'runtime']);
  const [serverIds, setServerIds] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<Schemas['CreatedApiKey'] | null>(null);
  const toggle = <T,>(list: T[], item: T, on: boolean) => (on ? [...list, item] : list.filter((x) => x !== item));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    const body: Schemas['CreateApiKeyBody'] = {
      name: name.trim(),
      scopes: chosen,
      ...(serverIds.length > 0 ? { serverIds } : {}),
    };
    unwrap(client.POST('/api_keys', { body }))
      .then(
        (key) => {
          setCreated(key);
          setName('');
          setServerIds([]);
          onCreated();
        },
        (err: unknown) => setError(err),
      )
      .finally(() => setBusy(false));
  };
  return (
    <section aria-labelledby="create-key-title">
      <h2 id="create-key-title">Create an API key</h2>
      <form className="form" onSubmit={submit}>
        <label htmlFor="key-name">Name</label>
        <input id="key-name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        <fieldset>
          <legend>Scopes</legend>
          <div className="checks">
            {scopes.map(({ scope, help }) => (
              <span key={scope}>
                <input
                  type="checkbox"
                  id={`scope-${scope}`}
                  checked={chosen.includes(scope)}
                  onChange={(e) => setChosen(toggle(chosen, scope, e.target.checked))}
                />
                <label htmlFor={`scope-${scope}`}>
                  {scope} <span className="hint">({help})</span>
                </label>
              </span>
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend>Servers (optional: none checked, every server)</legend>
          {servers.length === 0 ? (
            <Empty>No MCP server yet.</Empty>
          ) : (
            <div className="checks">
              {servers.map((s) => (
                <span key={s.id}>
                  <input
                    type="checkbox"
                    id={`key-server-${s.id}`}
                    checked={serverIds.includes(s.id)}
                    onChange={(e) => setServerIds(toggle(serverIds, s.id, e.target.checked))}
                  />
                  <label htmlFor={`key-server-${s.id}`}>{s.name}</label>
                </span>
              ))}
            </div>
          )}
        </fieldset>
        {error !== null && <ErrorBox error={error} title="Not created" />}
        <button type="submit" disabled={busy || !name.trim() || chosen.length === 0}>
          {busy ? 'Creating…' : 'Create key'}
        </button>
      </form>
      {created && <NewKey created={created} onDone={() => setCreated(null)} />}
    </section>
  );
}

export function ApiKeysPage({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useLoad(async () => {
    const [keys, servers] = await Promise.all([
      unwrap(client.GET('/api_keys')),
      unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })),
    ]);
    return { keys: keys.data, servers: servers.data };
  }, [client]);
  const { pending: revoking, error, run } = useRowAction();
  const mine = storedKey()?.slice(0, 10);
  const revoke = (id: string) =>
    run(id, () => unwrap(client.DELETE('/api_keys/{id}', { params: { path: { id } } })), reload);
  return (
    <>
      <h1>API keys</h1>
      <Show loaded={loaded} what="the API keys">
        {({ keys, servers }) => (
          <>
            <CreateKey client={client} servers={servers} onCreated={reload} />
            <section aria-labelledby="keys-title">
              <h2 id="keys-title">Keys</h2>
              {error !== null && <ErrorBox error={error} title="Not revoked" />}
              {keys.length === 0 ? (
                <Empty>No API key yet.</Empty>
              ) : (
                <table>
                  <caption className="visually-hidden">API keys of the workspace</caption>
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Prefix</th>
                      <th scope="col">Scopes</th>
                      <th scope="col">Servers</th>
                      <th scope="col">Last used</th>
                      <th scope="col">Revoked</th>
                      <th scope="col">Actions</th>
                    </tr>
                  </thead>
                  <tbody>
                    {keys.map((k) => (
                      <tr key={k.id}>
                        <td>
                          {k.name}
                          {k.prefix === mine && !k.revokedAt && <span className="hint"> (this session’s key)</span>}
                        </td>
                        <td>
                          <code>{k.prefix}…</code>
                        </td>
                        <td>{k.scopes.join(', ')}</td>
                        <td>
                          {k.serverIds === null
                            ? 'every server'
                            : k.serverIds.map((id) => servers.find((s) => s.id === id)?.name ?? id).join(', ')}
                        </td>
                        <td>{when(k.lastUsedAt, 'never')}</td>
                        <td>{when(k.revokedAt, 'no')}</td>
                        <td>
                          {!k.revokedAt && (
                            <ConfirmButton
                              label="Revoke"
                              name={k.name}
                              question={`Revoke ${k.name}? Its callers are refused from the next request on.`}
                              confirmLabel={`Revoke ${k.name}`}
                              busy={revoking === k.id}
                              onConfirm={() => revoke(k.id)}
                            />
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          </>
        )}
      </Show>
    </>
  );
}
