import type { FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { errorMessage, unwrap, type Schemas } from '../api.ts';
import { useAction } from '../components/action.ts';
import { ProblemBox, SubmitButton, toggledSet } from '../components/form.tsx';
import {
  AccessChoice,
  DescriptionField,
  ModeChoice,
  ServerNameField,
  useServerFields,
} from '../components/server-form.tsx';
import {
  ConfirmCheck,
  CostTag,
  exposedConfirmations,
  InstanceToolPicker,
  useInstanceTools,
} from '../components/tool-picker.tsx';
import { Link, navigate } from '../router.tsx';
import { BacktestButton } from '../components/backtest-button.tsx';
import { confirmationsFile } from '../rule-files.ts';
import { ConfirmButton, Show, useLoad } from '../ui.tsx';
import { Crumbs } from '../components/section.tsx';

type Server = Schemas['McpServer'];
type Instance = Schemas['ConnectorInstance'];
type SourcedTool = Schemas['SourcedTool'];

const sameSet = (a: readonly string[], b: ReadonlySet<string>) => a.length === b.size && a.every((x) => b.has(x));

/**
 * The form's fields, from the server as it is, and the change to send: only what changed (`PATCH`); a change of
 * what it exposes makes a new catalog version.
 */
function useEditDraft(server: Server) {
  const f = useServerFields({
    name: server.name,
    description: server.description ?? '',
    mode: server.mode,
    isPublic: server.isPublic,
    perRequestAuth: server.perRequestAuth,
    codeMode: server.codeMode,
    instanceId: server.connectorInstanceId ?? '',
    selected: server.selectedTools,
    confirm: server.confirmTools,
  });
  const chooseInstance = (id: string) => {
    f.setInstanceId(id);
    // Another instance's tools: the choice starts again (none = all of them), as at creation.
    const same = id === server.connectorInstanceId;
    f.setSelected(new Set(same ? server.selectedTools : []));
    f.setConfirm(new Set(same ? server.confirmTools : []));
  };
  const { name, description, mode, isPublic, perRequestAuth, codeMode, instanceId, selected, confirm } = f;
  const rebound = mode === 'NORMAL' && instanceId !== (server.connectorInstanceId ?? '');
  // With an instance's picker, only the tools the selection exposes may be confirmed.
  const confirmTools = mode === 'NORMAL' && instanceId ? exposedConfirmations(confirm, selected) : [...confirm];
  const body: Schemas['UpdateServerBody'] = {
    ...(name.trim() !== server.name ? { name: name.trim() } : {}),
    ...(description.trim() !== (server.description ?? '') ? { description: description.trim() || null } : {}),
    ...(mode !== server.mode ? { mode } : {}),
    ...(isPublic !== server.isPublic ? { isPublic } : {}),
    ...(perRequestAuth !== server.perRequestAuth ? { perRequestAuth } : {}),
    ...(codeMode !== server.codeMode ? { codeMode } : {}),
    ...(rebound && instanceId ? { connectorInstanceId: instanceId } : {}),
    ...(mode === 'NORMAL' && (rebound || !sameSet(server.selectedTools, selected))
      ? { selectedTools: [...selected] }
      : {}),
    ...(!sameSet(server.confirmTools, new Set(confirmTools)) ? { confirmTools: confirmTools } : {}),
  };
  return { ...f, chooseInstance, body, confirmTools };
}

type Draft = ReturnType<typeof useEditDraft>;

/** Where a tool comes from, in words. */
function sourceText(s: SourcedTool['source']): string {
  if (s.kind === 'connector_instance') return `connector instance ${s.instance}`;
  if (s.kind === 'workflow') return `workflow ${s.workflowId} of ${s.document}`;
  return `external MCP server ${s.server}`;
}

/**
 * What a server without a connector instance exposes now, where each tool comes from, and whether a person confirms
 * its calls ("Ask a person first", marked "suggested" where the rule suggests it).
 */
function CurrentTools({ client, server, d }: { client: ManagementClient; server: Server; d: Draft }) {
  const [tools] = useLoad(
    () => unwrap(client.GET('/mcp_manager/{id}/tools', { params: { path: { id: server.id } } })).then((r) => r.data),
    [client, server.id, server.catalogVersion],
  );
  const list = tools.state === 'done' ? tools.data : [];
  return (
    <>
      <p className="hint">
        No connector instance: the tools come from a{' '}
        <Link href={`/workflows?server=${server.id}`}>workflow deployment</Link>
        {server.selectedTools.length > 0 && <> or are chosen by name ({server.selectedTools.join(', ')})</>}.
      </p>
      {list.length > 0 && (
        <ul className="tools" aria-label="Tools it exposes now">
          {list.map((t) => (
            <li key={t.name}>
              <code id={`tool-${t.name}-name`}>{t.name}</code> <CostTag tool={t} />,{' '}
              <span className="desc">from {sourceText(t.source)}</span>
              <ConfirmCheck
                id={`tool-${t.name}-confirm`}
                tool={t}
                describedBy={`tool-${t.name}-name`}
                checked={d.confirm.has(t.name)}
                onChange={(on) => d.setConfirm(toggledSet(d.confirm, t.name, on))}
              />
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

/** The connector instance whose tools the server exposes, and the picker of its tools (as at creation). */
function InstanceSection({
  client,
  server,
  instances,
  d,
}: {
  client: ManagementClient;
  server: Server;
  instances: Instance[];
  d: Draft;
}) {
  const tools = useInstanceTools(client, instances.some((i) => i.id === d.instanceId) ? d.instanceId : '');
  return (
    <>
      <label htmlFor="server-instance">Connector instance</label>
      <select id="server-instance" value={d.instanceId} onChange={(e) => d.chooseInstance(e.target.value)}>
        {!server.connectorInstanceId && <option value="">None (tools by name, or a workflow deployment)</option>}
        {instances.map((i) => (
          <option key={i.id} value={i.id}>
            {i.name}
          </option>
        ))}
      </select>
      {tools ? (
        <InstanceToolPicker
          tools={tools}
          selected={d.selected}
          onChange={d.setSelected}
          confirm={{ confirm: d.confirm, onConfirm: d.setConfirm }}
        />
      ) : (
        <CurrentTools client={client} server={server} d={d} />
      )}
    </>
  );
}

/**
 * The form: what a server is (name, description), how it is reached (public, per-request credentials) and what it
 * exposes (mode, connector instance, the tools picked as at creation).
 */
function EditForm({ client, server, instances }: { client: ManagementClient; server: Server; instances: Instance[] }) {
  const d = useEditDraft(server);
  const save = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.run(() => unwrap(client.PATCH('/mcp_manager/{id}', { params: { path: { id: server.id } }, body: d.body })), {
      then: (saved) => navigate(`/servers/${saved.id}`),
    });
  };
  return (
    <form onSubmit={submit} className="form" aria-labelledby="edit-title">
      <h2 id="edit-title">Settings</h2>
      <ServerNameField value={d.name} onValue={d.setName}>
        Lower-case letters, digits, <code>_</code> and <code>-</code>. The URL does not change with it (it holds the
        server’s id); management calls by name use the new one.
      </ServerNameField>
      <DescriptionField value={d.description} onValue={d.setDescription} />
      <ModeChoice mode={d.mode} onMode={d.setMode} />
      <AccessChoice fields={d} />
      {d.mode === 'NORMAL' && <InstanceSection client={client} server={server} instances={instances} d={d} />}
      {save.error !== null && <ProblemBox error={save.error} title="Not saved" />}
      <div className="buttons">
        <SubmitButton
          busy={save.busy}
          disabled={Object.keys(d.body).length === 0 || !d.name.trim()}
          busyLabel="Saving…"
        >
          Save changes
        </SubmitButton>
        <Link className="button secondary" href={`/servers/${server.id}`}>
          Cancel
        </Link>
      </div>
      {/* The tools a person confirms first, as checked now, on past calls (under the server's saved name). */}
      <BacktestButton client={client} documents={[confirmationsFile(server.name, d.confirmTools)]} />
    </form>
  );
}

/** The API keys limited to the server, and what they reach once it is gone. */
function LimitedKeys({ client, server }: { client: ManagementClient; server: Server }) {
  const [keys] = useLoad(() => unwrap(client.GET('/api_keys')), [client]);
  if (keys.state === 'error')
    return <li>The API keys limited to it could not be listed ({errorMessage(keys.error)}).</li>;
  if (keys.state !== 'done') return null;
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
}

/**
 * Deleting the server, with what stops working spelled out first: its URL (every client of it), the API keys limited
 * to it (those limited to it alone reach nothing afterwards), and what goes with it.
 */
function DeleteServer({ client, server }: { client: ManagementClient; server: Server }) {
  const removal = useAction();
  const remove = () =>
    removal.run(() => unwrap(client.DELETE('/mcp_manager/{id}', { params: { path: { id: server.id } } })), {
      then: () => navigate('/servers'),
    });
  return (
    <section aria-labelledby="delete-title" className="danger-zone">
      <h2 id="delete-title">Delete this server</h2>
      <p>Deleting {server.name} cannot be undone. What stops working:</p>
      <ul aria-label="What stops working">
        <li>
          Its MCP URL <code>{server.url}</code> answers 404 to every client.
        </li>
        <LimitedKeys client={client} server={server} />
        <li>
          Its catalog versions, workflow deployments, debug sessions and server secrets are deleted with it
          {server.fromDescriptor && '; its connector instance stays'}.
        </li>
      </ul>
      {removal.error !== null && <ProblemBox error={removal.error} title="Not deleted" />}
      <ConfirmButton
        label="Delete server"
        name={server.name}
        question={`Delete ${server.name} for good?`}
        confirmLabel={`Delete ${server.name}`}
        busy={removal.busy}
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
          <Crumbs up="/servers" label="MCP servers">
            <Link href={`/servers/${server.id}`}>{server.name}</Link> / edit
          </Crumbs>
          <h1>Edit {server.name}</h1>
          <EditForm client={client} server={server} instances={instances} />
          <DeleteServer client={client} server={server} />
        </>
      )}
    </Show>
  );
}
