import { useEffect, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../api.ts';
import { Link, navigate } from '../router.tsx';
import { instanceTools, type ToolInfo } from '../tools.ts';
import { Empty, ErrorBox, Loading, Show, useLoad, type Loaded } from '../ui.tsx';
import { ExternalServers, ToolChoice, externalConfigs, type ExternalDraft } from './external-mcp.tsx';

/** A searchable list of checkboxes, one per tool, each with its input schema on expand (creation and editing). */
export function ToolPicker({
  tools,
  selected,
  onChange,
}: {
  tools: ToolInfo[];
  selected: Set<string>;
  onChange: (s: Set<string>) => void;
}) {
  const [query, setQuery] = useState('');
  const q = query.trim().toLowerCase();
  const shown = tools.filter((t) => !q || t.name.toLowerCase().includes(q) || t.description.toLowerCase().includes(q));
  const toggle = (name: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(name);
    else next.delete(name);
    onChange(next);
  };
  return (
    <fieldset className="picker">
      <legend>Tools</legend>
      <p className="hint" id="picker-help">
        Choose the tools the server exposes; none chosen means all of the instance&apos;s tools.{' '}
        <span aria-live="polite">{selected.size} selected.</span>
      </p>
      <label htmlFor="tool-search">Search tools</label>
      <input
        id="tool-search"
        type="search"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        aria-describedby="picker-help"
      />
      {shown.length === 0 ? (
        <Empty>No tool matches “{query}”.</Empty>
      ) : (
        <ul className="tools">
          {shown.map((t) => (
            <ToolChoice
              key={t.name}
              id={`tool-${t.name}`}
              tool={t}
              checked={selected.has(t.name)}
              onChange={(checked) => toggle(t.name, checked)}
            />
          ))}
        </ul>
      )}
    </fieldset>
  );
}

/** The server's mode, as creation and editing offer it. */
export function ModeChoice({ mode, onMode }: { mode: 'NORMAL' | 'SMART'; onMode: (m: 'NORMAL' | 'SMART') => void }) {
  return (
    <fieldset>
      <legend>Mode</legend>
      <div className="radio">
        <input
          type="radio"
          id="mode-normal"
          name="mode"
          value="NORMAL"
          checked={mode === 'NORMAL'}
          onChange={() => onMode('NORMAL')}
        />
        <label htmlFor="mode-normal">NORMAL: the tools of one connector instance (or the ones you choose)</label>
      </div>
      <div className="radio">
        <input
          type="radio"
          id="mode-smart"
          name="mode"
          value="SMART"
          checked={mode === 'SMART'}
          onChange={() => onMode('SMART')}
        />
        <label htmlFor="mode-smart">SMART: search, describe and execute any tool of the workspace</label>
      </div>
    </fieldset>
  );
}

/** Who may call the server and with which credential: public, and per-request authentication. */
export function AccessChoice(props: {
  isPublic: boolean;
  onPublic: (v: boolean) => void;
  perRequestAuth: boolean;
  onPerRequestAuth: (v: boolean) => void;
}) {
  return (
    <>
      <div className="check">
        <input
          id="server-public"
          type="checkbox"
          checked={props.isPublic}
          onChange={(e) => props.onPublic(e.target.checked)}
        />
        <label htmlFor="server-public">Public (callable without an API key)</label>
      </div>
      <div className="check">
        <input
          id="server-per-request-auth"
          type="checkbox"
          checked={props.perRequestAuth}
          onChange={(e) => props.onPerRequestAuth(e.target.checked)}
        />
        <label htmlFor="server-per-request-auth">
          Per-request authentication (callers may send their own upstream credential in X-Upstream-Authorization, used
          instead of the stored one for that call)
        </label>
      </div>
    </>
  );
}

export function ServerCreatePage({ client }: { client: ManagementClient }) {
  const [instances] = useLoad(() => unwrap(client.GET('/connector_instances')), [client]);
  const [name, setName] = useState('');
  const [mode, setMode] = useState<'NORMAL' | 'SMART'>('NORMAL');
  const [description, setDescription] = useState('');
  const [isPublic, setIsPublic] = useState(false);
  const [perRequestAuth, setPerRequestAuth] = useState(false);
  const [instanceId, setInstanceId] = useState('');
  const [tools, setTools] = useState<Loaded<ToolInfo[]> | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [externals, setExternals] = useState<ExternalDraft[]>([]);
  const [registered] = useLoad(() => unwrap(client.GET('/external_mcp_servers')).then((r) => r.data), [client]);
  const [used, setUsed] = useState<Set<string>>(new Set());

  useEffect(() => {
    setSelected(new Set());
    const instance = instances.state === 'done' ? instances.data.data.find((i) => i.id === instanceId) : undefined;
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

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const external = externalConfigs(externals);
    const body: Schemas['CreateServerBody'] = {
      name: name.trim(),
      mode,
      isPublic,
      perRequestAuth,
      ...(description.trim() ? { description: description.trim() } : {}),
      ...(mode === 'NORMAL' && instanceId ? { connectorInstanceId: instanceId } : {}),
      ...(mode === 'NORMAL' && selected.size > 0 ? { selectedTools: [...selected] } : {}),
      ...(external.length > 0 ? { externalMcpConfigs: external } : {}),
      ...(used.size > 0 ? { externalMcpServers: [...used].map((n) => ({ name: n, tools: [] })) } : {}),
    };
    unwrap(client.POST('/mcp_manager', { body })).then(
      (server) => navigate(`/servers/${server.id}`),
      (err: unknown) => {
        setError(err);
        setBusy(false);
      },
    );
  };

  return (
    <>
      <p className="crumbs">
        <Link href="/servers">MCP servers</Link> / new
      </p>
      <h1>Create an MCP server</h1>
      <form onSubmit={submit} className="form">
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
          Lower-case letters, digits, <code>_</code> and <code>-</code>; it names the server in its URL.
        </p>
        <ModeChoice mode={mode} onMode={setMode} />
        <label htmlFor="server-description">Description</label>
        <textarea
          id="server-description"
          rows={2}
          maxLength={1000}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
        />
        <AccessChoice
          isPublic={isPublic}
          onPublic={setIsPublic}
          perRequestAuth={perRequestAuth}
          onPerRequestAuth={setPerRequestAuth}
        />
        {mode === 'NORMAL' && (
          <>
            <label htmlFor="server-instance">Connector instance</label>
            {instances.state === 'loading' && <Loading what="the connector instances" />}
            {instances.state === 'error' && <ErrorBox error={instances.error} title="Could not load the instances" />}
            <select
              id="server-instance"
              value={instanceId}
              onChange={(e) => setInstanceId(e.target.value)}
              disabled={instances.state !== 'done'}
            >
              <option value="">None (tools by name, or a workflow deployment later)</option>
              {instances.state === 'done' &&
                instances.data.data.map((i) => (
                  <option key={i.id} value={i.id}>
                    {i.name}
                  </option>
                ))}
            </select>
            {instances.state === 'done' && instances.data.data.length === 0 && (
              <Empty>
                No connector instance yet: <Link href="/instances">create one</Link>.
              </Empty>
            )}
            {tools && (
              <Show loaded={tools} what="the instance's tools">
                {(list) =>
                  list.length === 0 ? (
                    <Empty>This instance gives no tool (its connector does not enable MCP).</Empty>
                  ) : (
                    <ToolPicker tools={list} selected={selected} onChange={setSelected} />
                  )
                }
              </Show>
            )}
          </>
        )}
        {registered.state === 'done' && registered.data.length > 0 && (
          <fieldset>
            <legend>External MCP servers registered on the workspace</legend>
            <p className="hint">
              All their tools; a change of one (<Link href="/external-servers">External MCP servers</Link>) reaches this
              server.
            </p>
            {registered.data.map((r) => (
              <div className="check" key={r.id}>
                <input
                  type="checkbox"
                  id={`use-${r.id}`}
                  checked={used.has(r.name)}
                  onChange={(e) => {
                    const next = new Set(used);
                    if (e.target.checked) next.add(r.name);
                    else next.delete(r.name);
                    setUsed(next);
                  }}
                />
                <label htmlFor={`use-${r.id}`}>
                  {r.name} <code>{r.url}</code> ({r.tools.length} tool{r.tools.length === 1 ? '' : 's'})
                </label>
              </div>
            ))}
          </fieldset>
        )}
        <ExternalServers client={client} drafts={externals} onChange={setExternals} />
        {error !== null && (
          <div className="error" role="alert">
            <strong>Not created:</strong> {error instanceof Error ? error.message : String(error)}
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
        )}
        <button type="submit" disabled={busy || !name.trim()}>
          {busy ? 'Creating…' : 'Create server'}
        </button>
      </form>
    </>
  );
}
