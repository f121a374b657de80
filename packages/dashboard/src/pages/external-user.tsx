import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { ConfirmButton, Empty, ErrorBox, SecretInput, Show, useLoad, when, type Loaded } from '../ui.tsx';
import { credentialFields, type CredentialField } from '../credentials.ts';
import { formatAttributes, parseAttributes } from './external-users.tsx';

/** What a section reports after an action: done (a status) or failed (an alert). */
type Outcome = { ok: true; message: string } | { ok: false; error: unknown; title: string } | null;

function OutcomeView({ outcome }: { outcome: Outcome }) {
  if (!outcome) return null;
  if (!outcome.ok) return <ErrorBox error={outcome.error} title={outcome.title} />;
  return (
    <p className="success" role="status">
      {outcome.message}
    </p>
  );
}

function Attributes({
  client,
  user,
  onSaved,
}: {
  client: ManagementClient;
  user: Schemas['ExternalUser'];
  onSaved: () => void;
}) {
  const [text, setText] = useState(() => formatAttributes(user.attributes));
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setOutcome(null);
    let attributes: Record<string, string>;
    try {
      attributes = parseAttributes(text);
    } catch (error) {
      setOutcome({ ok: false, error, title: 'Not saved' });
      return;
    }
    setBusy(true);
    unwrap(client.PATCH('/external_users/{name}', { params: { path: { name: user.name } }, body: { attributes } }))
      .then(
        (saved) => {
          setText(formatAttributes(saved.attributes));
          setOutcome({ ok: true, message: 'Attributes saved.' });
          onSaved();
        },
        (error: unknown) => setOutcome({ ok: false, error, title: 'Not saved' }),
      )
      .finally(() => setBusy(false));
  };
  return (
    <section aria-labelledby="attributes-title">
      <h2 id="attributes-title">Attributes</h2>
      <form className="form" onSubmit={submit}>
        <label htmlFor="user-attributes-edit">
          Attributes (one name=value a line; read as <code>$current_user.&lt;name&gt;</code>; saving replaces them all)
        </label>
        <textarea
          id="user-attributes-edit"
          className="code"
          rows={4}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <OutcomeView outcome={outcome} />
        <button type="submit" disabled={busy}>
          {busy ? 'Saving…' : 'Save attributes'}
        </button>
      </form>
    </section>
  );
}

/** How a disconnect's revocation at the provider went, for the person reading the outcome. */
const revocationText: Record<string, string> = {
  revoked: 'The provider revoked the access.',
  no_endpoint: 'The connector names no revocation endpoint: the tokens were deleted here only.',
  failed: 'The provider did not confirm the revocation; the tokens were deleted here anyway.',
  not_connected: '',
};

/** A connection's status in words: an own account's, with its access token's expiry. */
function connectionStatus(c: Schemas['UserConnection']): string {
  if (c.kind !== 'oauth') return 'Stored';
  if (c.status === 'needs_reauthorization') return 'Needs re-authorisation (the next call gives a new link)';
  return c.expires_at ? `Connected (token renewed before ${when(c.expires_at)})` : 'Connected';
}

function Connections({
  client,
  user,
  instances,
}: {
  client: ManagementClient;
  user: string;
  instances: Schemas['ConnectorInstance'][];
}) {
  const [connections, reload] = useLoad(
    () =>
      unwrap(client.GET('/external_users/{name}/connections', { params: { path: { name: user } } })).then(
        (r) => r.data,
      ),
    [client, user],
  );
  const [instanceId, setInstanceId] = useState(instances[0]?.id ?? '');
  const [fields, setFields] = useState<Loaded<CredentialField[]>>({ state: 'loading' });
  const [credentials, setCredentials] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [removing, setRemoving] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const connectorId = instances.find((i) => i.id === instanceId)?.connector_id;
  useEffect(() => {
    if (!connectorId) return;
    let live = true;
    setFields({ state: 'loading' });
    setCredentials({});
    unwrap(client.GET('/connectors/{id}', { params: { path: { id: connectorId } } })).then(
      (c) => live && setFields({ state: 'done', data: credentialFields(c) }),
      (error: unknown) => live && setFields({ state: 'error', error }),
    );
    return () => {
      live = false;
    };
  }, [client, connectorId]);
  const nameOf = (id: string) => instances.find((i) => i.id === id)?.name ?? id;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setOutcome(null);
    const body = { credentials: Object.fromEntries(Object.entries(credentials).filter(([, v]) => v !== '')) };
    unwrap(
      client.PUT('/external_users/{name}/connections/{instanceId}', {
        params: { path: { name: user, instanceId } },
        body,
      }),
    )
      .then(
        () => {
          setCredentials({});
          setOutcome({ ok: true, message: `Connection to ${nameOf(instanceId)} saved.` });
          reload();
        },
        (error: unknown) => setOutcome({ ok: false, error, title: 'Not saved' }),
      )
      .finally(() => setBusy(false));
  };
  const remove = (id: string) => {
    setRemoving(id);
    setOutcome(null);
    unwrap(
      client.DELETE('/external_users/{name}/connections/{instanceId}', {
        params: { path: { name: user, instanceId: id } },
      }),
    )
      .then(
        (ended) => {
          // An own account answers how the revocation at the provider went.
          const revocation = ended ? revocationText[ended.revocation] : '';
          setOutcome({
            ok: true,
            message: `Connection to ${nameOf(id)} removed.${revocation ? ` ${revocation}` : ''}`,
          });
          reload();
        },
        (error: unknown) => setOutcome({ ok: false, error, title: 'Not removed' }),
      )
      .finally(() => setRemoving(null));
  };
  return (
    <section aria-labelledby="connections-title">
      <h2 id="connections-title">Connections</h2>
      <p className="hint">
        The user’s own credentials for a connector instance (their calls of its tools use these instead of the
        instance’s; values are write-only: only the names of the keys set are shown), or their own account, connected by
        the person with a link their agent gave them (never a token shown).
      </p>
      <Show loaded={connections} what="the connections">
        {(list) =>
          list.length === 0 ? (
            <Empty>No connection yet.</Empty>
          ) : (
            <table>
              <caption className="visually-hidden">Connections of {user}</caption>
              <thead>
                <tr>
                  <th scope="col">Connector instance</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Status</th>
                  <th scope="col">Credentials or scopes</th>
                  <th scope="col">Updated</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.map((c) => (
                  <tr key={c.connector_instance_id}>
                    <td>{nameOf(c.connector_instance_id)}</td>
                    <td>{c.kind === 'oauth' ? 'Own account' : 'Credentials'}</td>
                    <td>{connectionStatus(c)}</td>
                    <td>
                      {c.kind === 'oauth'
                        ? (c.scopes ?? []).join(', ') || 'none stated'
                        : c.credential_keys.join(', ') || 'none'}
                    </td>
                    <td>{when(c.updatedAt)}</td>
                    <td>
                      <ConfirmButton
                        label={c.kind === 'oauth' ? 'Disconnect' : 'Remove'}
                        name={`the connection to ${nameOf(c.connector_instance_id)}`}
                        question={
                          c.kind === 'oauth'
                            ? `Disconnect ${user}’s account for ${nameOf(c.connector_instance_id)}? The provider is asked to revoke it.`
                            : `Remove ${user}’s credentials for ${nameOf(c.connector_instance_id)}?`
                        }
                        confirmLabel={c.kind === 'oauth' ? 'Disconnect the account' : 'Remove the connection'}
                        busy={removing === c.connector_instance_id}
                        onConfirm={() => remove(c.connector_instance_id)}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      <h3 id="set-connection-title">Set a connection</h3>
      {instances.length === 0 ? (
        <Empty>
          No connector instance yet: create one under <Link href="/instances">Connector instances</Link>.
        </Empty>
      ) : (
        <form className="form" onSubmit={submit} aria-labelledby="set-connection-title">
          <label htmlFor="connection-instance">Connector instance</label>
          <select id="connection-instance" value={instanceId} onChange={(e) => setInstanceId(e.target.value)}>
            {instances.map((i) => (
              <option key={i.id} value={i.id}>
                {i.name}
              </option>
            ))}
          </select>
          <fieldset>
            <legend>Credentials (write-only: never shown again; saving replaces the user’s previous ones)</legend>
            <Show loaded={fields} what="the credential fields">
              {(list) =>
                list.length === 0 ? (
                  <Empty>This connector needs no credentials.</Empty>
                ) : (
                  list.map((f) => (
                    <div key={f.key} className="field">
                      <label htmlFor={`user-cred-${f.key}`}>
                        {f.label} {f.required && <span>(required)</span>}
                      </label>
                      <SecretInput
                        id={`user-cred-${f.key}`}
                        required={f.required}
                        value={credentials[f.key] ?? ''}
                        onValue={(v) => setCredentials({ ...credentials, [f.key]: v })}
                      />
                    </div>
                  ))
                )
              }
            </Show>
          </fieldset>
          <button type="submit" disabled={busy || !instanceId || fields.state !== 'done'}>
            {busy ? 'Saving…' : 'Save connection'}
          </button>
        </form>
      )}
      <OutcomeView outcome={outcome} />
    </section>
  );
}

interface External {
  serverId: string;
  serverName: string;
  external: string;
  headerNames: string[];
}

interface HeaderRow {
  id: number;
  name: string;
  value: string;
}

function McpConnections({
  client,
  user,
  servers,
}: {
  client: ManagementClient;
  user: string;
  servers: Schemas['McpServerSummary'][];
}) {
  const externals: External[] = servers.flatMap((s) =>
    s.externalMcpConfigs.map((c) => ({
      serverId: s.id,
      serverName: s.name,
      external: c.name,
      headerNames: c.headerNames,
    })),
  );
  const keyOf = (x: External) => `${x.serverId}/${x.external}`;
  const [chosen, setChosen] = useState(externals[0] ? keyOf(externals[0]) : '');
  const target = externals.find((x) => keyOf(x) === chosen);
  const nextId = useRef(1);
  const rowsFor = (x: External | undefined): HeaderRow[] =>
    (x && x.headerNames.length > 0 ? x.headerNames : ['']).map((name) => ({ id: nextId.current++, name, value: '' }));
  const [rows, setRows] = useState<HeaderRow[]>(() => rowsFor(target));
  const [busy, setBusy] = useState(false);
  const [removing, setRemoving] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const choose = (key: string) => {
    setChosen(key);
    setRows(rowsFor(externals.find((x) => keyOf(x) === key)));
    setOutcome(null);
  };
  const update = (id: number, patch: Partial<HeaderRow>) =>
    setRows((rs) => rs.map((r) => (r.id === id ? { ...r, ...patch } : r)));
  const label = (x: External) => `${x.external} (of ${x.serverName})`;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!target) return;
    setBusy(true);
    setOutcome(null);
    const headers = Object.fromEntries(rows.filter((r) => r.name.trim()).map((r) => [r.name.trim(), r.value]));
    unwrap(
      client.PUT('/external_users/{name}/mcp_connections/{serverId}/{external}', {
        params: { path: { name: user, serverId: target.serverId, external: target.external } },
        body: { headers },
      }),
    )
      .then(
        (saved) => {
          setRows((rs) => rs.map((r) => ({ ...r, value: '' })));
          setOutcome({
            ok: true,
            message: `Headers for ${label(target)} saved: ${saved.header_names.join(', ') || 'none'}.`,
          });
        },
        (error: unknown) => setOutcome({ ok: false, error, title: 'Not saved' }),
      )
      .finally(() => setBusy(false));
  };
  const remove = () => {
    if (!target) return;
    setRemoving(true);
    setOutcome(null);
    unwrap(
      client.DELETE('/external_users/{name}/mcp_connections/{serverId}/{external}', {
        params: { path: { name: user, serverId: target.serverId, external: target.external } },
      }),
    )
      .then(
        () => setOutcome({ ok: true, message: `Headers for ${label(target)} removed.` }),
        (error: unknown) => setOutcome({ ok: false, error, title: 'Not removed' }),
      )
      .finally(() => setRemoving(false));
  };
  return (
    <section aria-labelledby="mcp-connections-title">
      <h2 id="mcp-connections-title">MCP connections</h2>
      <p className="hint">
        The headers sent for this user to an external MCP server of one of your MCP servers, instead of the configured
        ones. Values are write-only, and Toolplane does not list what is set: saving replaces the user’s headers for
        that server, removing deletes them.
      </p>
      {externals.length === 0 ? (
        <Empty>
          None of your <Link href="/servers">MCP servers</Link> uses an external MCP server.
        </Empty>
      ) : (
        <form className="form" onSubmit={submit} aria-labelledby="mcp-connections-title">
          <label htmlFor="mcp-external">External MCP server</label>
          <select id="mcp-external" value={chosen} onChange={(e) => choose(e.target.value)}>
            {externals.map((x) => (
              <option key={keyOf(x)} value={keyOf(x)}>
                {label(x)}
              </option>
            ))}
          </select>
          <fieldset>
            <legend>Headers (values write-only)</legend>
            {rows.map((r, i) => (
              <div key={r.id} className="inline-form">
                <div className="field">
                  <label htmlFor={`mcp-header-name-${r.id}`}>Header {i + 1} name</label>
                  <input
                    id={`mcp-header-name-${r.id}`}
                    autoComplete="off"
                    value={r.name}
                    onChange={(e) => update(r.id, { name: e.target.value })}
                  />
                </div>
                <div className="field">
                  <label htmlFor={`mcp-header-value-${r.id}`}>Header {i + 1} value</label>
                  <SecretInput
                    id={`mcp-header-value-${r.id}`}
                    value={r.value}
                    onValue={(v) => update(r.id, { value: v })}
                  />
                </div>
                {rows.length > 1 && (
                  <button
                    type="button"
                    className="secondary"
                    aria-label={`Remove header ${i + 1}`}
                    onClick={() => setRows((rs) => rs.filter((x) => x.id !== r.id))}
                  >
                    Remove
                  </button>
                )}
              </div>
            ))}
            <div>
              <button
                type="button"
                className="secondary"
                onClick={() => setRows((rs) => [...rs, { id: nextId.current++, name: '', value: '' }])}
              >
                Add a header
              </button>
            </div>
          </fieldset>
          <div className="buttons">
            <button type="submit" disabled={busy || !target || !rows.some((r) => r.name.trim())}>
              {busy ? 'Saving…' : 'Save headers'}
            </button>
            {target && (
              <ConfirmButton
                label="Remove headers"
                name={`for ${label(target)}`}
                question={`Remove ${user}’s headers for ${label(target)}?`}
                confirmLabel="Remove the headers"
                busy={removing}
                onConfirm={remove}
              />
            )}
          </div>
        </form>
      )}
      <OutcomeView outcome={outcome} />
    </section>
  );
}

function Secrets({ client, user }: { client: ManagementClient; user: string }) {
  const [secrets, reload] = useLoad(
    () =>
      unwrap(client.GET('/external_users/{name}/secrets', { params: { path: { name: user } } })).then((r) => r.data),
    [client, user],
  );
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [deleting, setDeleting] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const valueRef = useRef<HTMLInputElement>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const secret = name.trim();
    setBusy(true);
    setOutcome(null);
    unwrap(
      client.PUT('/external_users/{name}/secrets/{secret}', {
        params: { path: { name: user, secret } },
        body: { value },
      }),
    )
      .then(
        () => {
          setName('');
          setValue('');
          setOutcome({ ok: true, message: `Secret ${secret} set.` });
          reload();
        },
        (error: unknown) => setOutcome({ ok: false, error, title: 'Not set' }),
      )
      .finally(() => setBusy(false));
  };
  const remove = (secret: string) => {
    setDeleting(secret);
    setOutcome(null);
    unwrap(client.DELETE('/external_users/{name}/secrets/{secret}', { params: { path: { name: user, secret } } }))
      .then(
        () => {
          setOutcome({ ok: true, message: `Secret ${secret} deleted.` });
          reload();
        },
        (error: unknown) => setOutcome({ ok: false, error, title: 'Not deleted' }),
      )
      .finally(() => setDeleting(null));
  };
  const rotate = (secret: string) => {
    setName(secret);
    setValue('');
    setOutcome(null);
    valueRef.current?.focus();
  };
  return (
    <section aria-labelledby="user-secrets-title">
      <h2 id="user-secrets-title">Secrets</h2>
      <p className="hint">
        The user’s own values of <code>$secrets.NAME</code> in workflows run for them. Only names are shown; to rotate
        one, set it again.
      </p>
      <Show loaded={secrets} what="the secrets">
        {(list) =>
          list.length === 0 ? (
            <Empty>No secret yet.</Empty>
          ) : (
            <table>
              <caption className="visually-hidden">Secrets of {user}</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
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
                    <td>{when(s.updatedAt)}</td>
                    <td className="buttons">
                      <button
                        type="button"
                        className="secondary"
                        aria-label={`Rotate ${s.name}`}
                        onClick={() => rotate(s.name)}
                      >
                        Rotate
                      </button>
                      <ConfirmButton
                        label="Delete"
                        name={s.name}
                        question={`Delete ${user}’s secret ${s.name}?`}
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
      <h3 id="set-secret-title">Set or rotate a secret</h3>
      <form className="form" onSubmit={submit} aria-labelledby="set-secret-title">
        <label htmlFor="user-secret-name">Secret name</label>
        <input
          id="user-secret-name"
          required
          autoComplete="off"
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
        <label htmlFor="user-secret-value">Secret value (write-only)</label>
        <SecretInput id="user-secret-value" inputRef={valueRef} required value={value} onValue={setValue} />
        <button type="submit" disabled={busy || !name.trim() || value === ''}>
          {busy ? 'Setting…' : 'Set secret'}
        </button>
      </form>
      <OutcomeView outcome={outcome} />
    </section>
  );
}

export function ExternalUserPage({ client, name }: { client: ManagementClient; name: string }) {
  const [loaded, reload] = useLoad(async () => {
    const [users, instances, servers] = await Promise.all([
      unwrap(client.GET('/external_users')),
      unwrap(client.GET('/connector_instances')),
      unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })),
    ]);
    return {
      user: users.data.find((u) => u.name === name) ?? null,
      instances: instances.data,
      servers: servers.data,
    };
  }, [client, name]);
  return (
    <>
      <p className="crumbs">
        <Link href="/external-users">External users</Link> / {name}
      </p>
      <Show loaded={loaded} what="the external user">
        {({ user, instances, servers }) =>
          user === null ? (
            <>
              <h1>Not found</h1>
              <p>
                No external user named <code>{name}</code> in this workspace.{' '}
                <Link href="/external-users">Back to the external users</Link>.
              </p>
            </>
          ) : (
            <>
              <h1>External user {user.name}</h1>
              <dl className="facts">
                <dt>Id</dt>
                <dd>
                  <code>{user.id}</code>
                </dd>
                <dt>Created</dt>
                <dd>{when(user.createdAt)}</dd>
              </dl>
              <Attributes client={client} user={user} onSaved={reload} />
              <Connections client={client} user={user.name} instances={instances} />
              <McpConnections client={client} user={user.name} servers={servers} />
              <Secrets client={client} user={user.name} />
            </>
          )
        }
      </Show>
    </>
  );
}
