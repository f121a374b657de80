import { useEffect, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, errorMessage, unwrap, type Schemas } from '../api.ts';
import { Link, navigate } from '../router.tsx';
import { instanceTools, type ToolInfo } from '../tools.ts';
import { ConfirmButton, Empty, Show, useLoad, type Loaded } from '../ui.tsx';
import { AccessChoice, ModeChoice, ToolPicker } from './server-create.tsx';

type Server = Schemas['McpServer'];
type Instance = Schemas['ConnectorInstance'];

/** A rejected change or deletion: the message, and each problem of the body at its path. */
function Problem({ error, title }: { error: unknown; title: string }) {
  return (
    <div className="error" role="alert">
      <strong>{title}:</strong> {errorMessage(error)}
      {error instanceof ApiError && error.issues.length > 0 && (
        <ul>
          {error.issues.map((i, n) => (
            <li key={n}>
              {i.message} <code>{i.path}</code>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

const sameSet = (a: readonly string[], b: ReadonlySet<string>) => a.length === b.size && a.every((x) => b.has(x));

/**
 * The form: what a server is (name, description), how it is reached (public, per-request credentials) and what it
 * exposes (mode, connector instance, the tools picked as at creation). Only what changed is sent (`PATCH`): a change
 * of what it exposes makes a new catalog version.
 */
function EditForm({ client, server, instances }: { client: ManagementClient; server: Server; instances: Instance[] }) {
  const [name, setName] = useState(server.name);
  const [description, setDescription] = useState(server.description ?? '');
  const [mode, setMode] = useState(server.mode);
  const [isPublic, setIsPublic] = useState(server.isPublic);
  const [perRequestAuth, setPerRequestAuth] = useState(server.perRequestAuth);
  const [instanceId, setInstanceId] = useState(server.connectorInstanceId ?? '');
  const [selected, setSelected] = useState<Set<string>>(new Set(server.selectedTools));
  const [tools, setTools] = useState<Loaded<ToolInfo[]> | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const instance = instances.find((i) => i.id === instanceId);
    if (!instance) return setTools(null);
    let live = true;
    setTools({ state: 'loading' });
    instanceTools(client, instance).then(
      (data) => live && setTools({ state: 'done', data }),
      (err: unknown) => live && setTools({ state: 'error', error: err }),
    );
    return () => {
      live = false;
    };
  }, [client, instances, instanceId]);

  const chooseInstance = (id: string) => {
    setInstanceId(id);
    // Another instance's tools: the choice starts again (none = all of them), as at creation.
    setSelected(new Set(id === server.connectorInstanceId ? server.selectedTools : []));
  };

  const rebound = mode === 'NORMAL' && instanceId !== (server.connectorInstanceId ?? '');
  const body: Schemas['UpdateServerBody'] = {
    ...(name.trim() !== server.name ? { name: name.trim() } : {}),
    ...(description.trim() !== (server.description ?? '') ? { description: description.trim() || null } : {}),
    ...(mode !== server.mode ? { mode } : {}),
    ...(isPublic !== server.isPublic ? { isPublic } : {}),
    ...(perRequestAuth !== server.perRequestAuth ? { perRequestAuth } : {}),
    ...(rebound && instanceId ? { connectorInstanceId: instanceId } : {}),
    ...(mode === 'NORMAL' && (rebound || !sameSet(server.selectedTools, selected))
      ? { selectedTools: [...selected] }
      : {}),
  };
  const changed = Object.keys(body).length > 0;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    unwrap(client.PATCH('/mcp_manager/{id}', { params: { path: { id: server.id } }, body })).then(
      (saved) => navigate(`/servers/${saved.id}`),
      (err: unknown) => {
        setError(err);
        setBusy(false);
      },
    );
  };

  return (
    <form onSubmit={submit} className="form" aria-labelledby="edit-title">
      <h2 id="edit-title">Settings</h2>
      <label htmlFor="server-name">Name</label>
      <input
        id="server-name"
        required
        pattern="[a-z0-9][a-z0-9_\-]{0,99}"
        aria-describedby="server-name-help"
        value={name}
        onChange={(e) => setName(e.target.value)}
      />
      <p className="hint" id="server-name-help">
        Lower-case letters, digits, <code>_</code> and <code>-</code>. The URL does not change with it (it holds the
        server’s id); management calls by name use the new one.
      </p>
      <label htmlFor="server-description">Description</label>
      <textarea
        id="server-description"
        rows={2}
        maxLength={1000}
        value={description}
        onChange={(e) => setDescription(e.target.value)}
      />
      <ModeChoice mode={mode} onMode={setMode} />
      <AccessChoice
        isPublic={isPublic}
        onPublic={setIsPublic}
        perRequestAuth={perRequestAuth}
        onPerRequestAuth={setPerRequestAuth}
      />
      {mode === 'NORMAL' && (
        <>
          <label htmlFor="server-instance">Connector instance</label>
          <select id="server-instance" value={instanceId} onChange={(e) => chooseInstance(e.target.value)}>
            {!server.connectorInstanceId && <option value="">None (tools by name, or a workflow deployment)</option>}
            {instances.map((i) => (
              <option key={i.id} value={i.id}>
                {i.name}
              </option>
            ))}
          </select>
          {tools ? (
            <Show loaded={tools} what="the instance's tools">
              {(list) =>
                list.length === 0 ? (
                  <Empty>This instance gives no tool (its connector does not enable MCP).</Empty>
                ) : (
                  <ToolPicker tools={list} selected={selected} onChange={setSelected} />
                )
              }
            </Show>
          ) : (
            <p className="hint">
              No connector instance: the tools come from a{' '}
              <Link href={`/workflows?server=${server.id}`}>workflow deployment</Link>
              {server.selectedTools.length > 0 && <> or are chosen by name ({server.selectedTools.join(', ')})</>}.
            </p>
          )}
        </>
      )}
      {error !== null && <Problem error={error} title="Not saved" />}
      <div className="buttons">
        <button type="submit" disabled={busy || !changed || !name.trim()}>
          {busy ? 'Saving…' : 'Save changes'}
        </button>
        <Link className="button secondary" href={`/servers/${server.id}`}>
          Cancel
        </Link>
      </div>
    </form>
  );
}

/**
 * Deleting the server, with what stops working spelled out first: its URL (every client of it), the API keys limited
 * to it (those limited to it alone reach nothing afterwards), and what goes with it.
 */
function DeleteServer({ client, server }: { client: ManagementClient; server: Server }) {
  const [keys] = useLoad(() => unwrap(client.GET('/api_keys')), [client]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const remove = () => {
    setBusy(true);
    setError(null);
    unwrap(client.DELETE('/mcp_manager/{id}', { params: { path: { id: server.id } } })).then(
      () => navigate('/servers'),
      (err: unknown) => {
        setError(err);
        setBusy(false);
      },
    );
  };
  return (
    <section aria-labelledby="delete-title" className="danger-zone">
      <h2 id="delete-title">Delete this server</h2>
      <p>Deleting {server.name} cannot be undone. What stops working:</p>
      <ul aria-label="What stops working">
        <li>
          Its MCP URL <code>{server.url}</code> answers 404 to every client.
        </li>
        {keys.state === 'done' &&
          (() => {
            const limited = keys.data.data.filter((k) => !k.revokedAt && k.serverIds?.includes(server.id));
            if (limited.length === 0) return <li>No API key is limited to it.</li>;
            return limited.map((k) => (
              <li key={k.id}>
                API key <strong>{k.name}</strong> (<code>{k.prefix}…</code>) is limited to it
                {k.serverIds!.length === 1
                  ? ': it then reaches no server at all (revoke it).'
                  : ` and ${k.serverIds!.length - 1} other server(s): it keeps those.`}
              </li>
            ));
          })()}
        {keys.state === 'error' && (
          <li>The API keys limited to it could not be listed ({errorMessage(keys.error)}).</li>
        )}
        <li>
          Its catalog versions, workflow deployments, debug sessions and server secrets are deleted with it
          {server.fromDescriptor && '; its connector instance stays'}.
        </li>
      </ul>
      {error !== null && <Problem error={error} title="Not deleted" />}
      <ConfirmButton
        label="Delete server"
        name={server.name}
        question={`Delete ${server.name} for good?`}
        confirmLabel={`Delete ${server.name}`}
        busy={busy}
        onConfirm={remove}
      />
    </section>
  );
}

/** `/servers/{id}/edit`: change a server's settings and tools, or delete it. */
export function ServerEditPage({ client, id }: { client: ManagementClient; id: string }) {
  const [loaded] = useLoad(async () => {
    const [server, instances] = await Promise.all([
      unwrap(client.GET('/mcp_manager/{id}', { params: { path: { id } } })),
      unwrap(client.GET('/connector_instances')),
    ]);
    return { server, instances: instances.data };
  }, [client, id]);
  return (
    <Show loaded={loaded} what="the server">
      {({ server, instances }) => (
        <>
          <p className="crumbs">
            <Link href="/servers">MCP servers</Link> / <Link href={`/servers/${server.id}`}>{server.name}</Link> / edit
          </p>
          <h1>Edit {server.name}</h1>
          <EditForm client={client} server={server} instances={instances} />
          <DeleteServer client={client} server={server} />
        </>
      )}
    </Show>
  );
}
