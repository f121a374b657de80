import { useEffect, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { useAction } from '../components/action.ts';
import { ExternalServers, externalConfigs, type ExternalDraft } from '../components/external-mcp.tsx';
import { ProblemBox, SubmitButton, toggledSet } from '../components/form.tsx';
import {
  AccessChoice,
  Check,
  DescriptionField,
  ModeChoice,
  ServerNameField,
  useServerFields,
} from '../components/server-form.tsx';
import {
  exposedConfirmations,
  InstanceToolPicker,
  suggestedConfirmations,
  useInstanceTools,
  type ConfirmChoice,
} from '../components/tool-picker.tsx';
import { Link, navigate } from '../router.tsx';
import { Empty, ErrorBox, Loading, useLoad, type Loaded } from '../ui.tsx';
import { useGoverns } from '../powers.tsx';
import { Crumbs } from '../components/section.tsx';

type Instances = Loaded<Schemas['ConnectorInstance'][]>;

/**
 * The connector instance whose tools the server exposes, and the picker of its tools; once they are loaded, a person's
 * confirmation starts checked where it is suggested.
 */
function InstanceChoice({
  client,
  instances,
  instanceId,
  onInstance,
  selected,
  onSelected,
  confirm,
}: {
  client: ManagementClient;
  instances: Instances;
  instanceId: string;
  onInstance: (id: string) => void;
  selected: Set<string>;
  onSelected: (s: Set<string>) => void;
  confirm: ConfirmChoice;
}) {
  const tools = useInstanceTools(client, instanceId);
  const list = tools?.state === 'done' ? tools.data : undefined;
  const { onConfirm } = confirm;
  // Suggested confirmations are a governing choice (ADR 0073): a caller who may not change policies starts with none.
  const governs = useGoverns();
  useEffect(() => {
    if (list) onConfirm(governs ? suggestedConfirmations(list) : new Set());
  }, [list, onConfirm, governs]);
  return (
    <>
      <label htmlFor="server-instance">Connector instance</label>
      {instances.state === 'loading' && <Loading what="the connector instances" />}
      {instances.state === 'error' && <ErrorBox error={instances.error} title="Could not load the instances" />}
      <select
        id="server-instance"
        value={instanceId}
        onChange={(e) => onInstance(e.target.value)}
        disabled={instances.state !== 'done'}
      >
        <option value="">None (tools by name, or a workflow deployment later)</option>
        {instances.state === 'done' &&
          instances.data.map((i) => (
            <option key={i.id} value={i.id}>
              {i.name}
            </option>
          ))}
      </select>
      {instances.state === 'done' && instances.data.length === 0 && (
        <Empty>
          No connector instance yet: <Link href="/instances">create one</Link>.
        </Empty>
      )}
      {tools && <InstanceToolPicker tools={tools} selected={selected} onChange={onSelected} confirm={confirm} />}
    </>
  );
}

/** The external MCP servers registered on the workspace, to use all the tools of. */
function RegisteredServers({
  registered,
  used,
  onUsed,
}: {
  registered: Schemas['ExternalMcpServer'][];
  used: Set<string>;
  onUsed: (used: Set<string>) => void;
}) {
  if (registered.length === 0) return null;
  const toggle = (name: string, on: boolean) => onUsed(toggledSet(used, name, on));
  return (
    <fieldset>
      <legend>External MCP servers registered on the workspace</legend>
      <p className="hint">
        All their tools; a change of one (<Link href="/external-servers">External MCP servers</Link>) reaches this
        server.
      </p>
      {registered.map((r) => (
        <Check key={r.id} id={`use-${r.id}`} checked={used.has(r.name)} onChecked={(on) => toggle(r.name, on)}>
          {r.name} <code>{r.url}</code> ({r.tools.length} tool{r.tools.length === 1 ? '' : 's'})
        </Check>
      ))}
    </fieldset>
  );
}

const blank = {
  name: '',
  description: '',
  mode: 'NORMAL' as const,
  isPublic: false,
  perRequestAuth: false,
  codeMode: false,
  instanceId: '',
  selected: [],
  confirm: [],
};

/** The form's fields, as the create body has them. */
function useServerDraft() {
  const f = useServerFields(blank);
  const [externals, setExternals] = useState<ExternalDraft[]>([]);
  const [used, setUsed] = useState<Set<string>>(new Set());
  const body = (): Schemas['CreateServerBody'] => {
    const external = externalConfigs(externals);
    const normal = f.mode === 'NORMAL';
    return {
      name: f.name.trim(),
      mode: f.mode,
      isPublic: f.isPublic,
      perRequestAuth: f.perRequestAuth,
      ...(normal && f.codeMode ? { codeMode: true } : {}),
      ...(f.description.trim() ? { description: f.description.trim() } : {}),
      ...(normal && f.instanceId ? { connectorInstanceId: f.instanceId } : {}),
      ...(normal && f.selected.size > 0 ? { selectedTools: [...f.selected] } : {}),
      ...(normal && f.instanceId && f.confirm.size > 0
        ? { confirmTools: exposedConfirmations(f.confirm, f.selected) }
        : {}),
      ...(external.length > 0 ? { externalMcpConfigs: external } : {}),
      ...(used.size > 0 ? { externalMcpServers: [...used].map((n) => ({ name: n, tools: [] })) } : {}),
    };
  };
  // Another instance's tools: the choice starts again (none = all of them).
  const chooseInstance = (id: string) => {
    f.setInstanceId(id);
    f.setSelected(new Set());
    f.setConfirm(new Set());
  };
  return { ...f, chooseInstance, externals, setExternals, used, setUsed, body };
}

export function ServerCreatePage({ client }: { client: ManagementClient }) {
  const [instances] = useLoad(() => unwrap(client.GET('/connector_instances')).then((r) => r.data), [client]);
  const [registered] = useLoad(() => unwrap(client.GET('/external_mcp_servers')).then((r) => r.data), [client]);
  const d = useServerDraft();
  const create = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.run(() => unwrap(client.POST('/mcp_manager', { body: d.body() })), {
      then: (server) => navigate(`/servers/${server.id}`),
    });
  };
  return (
    <>
      <Crumbs up="/servers" label="MCP servers">
        new
      </Crumbs>
      <h1>Create an MCP server</h1>
      <form onSubmit={submit} className="form">
        <ServerNameField value={d.name} onValue={d.setName}>
          Lower-case letters, digits, <code>_</code> and <code>-</code>; it names the server in its URL.
        </ServerNameField>
        <ModeChoice mode={d.mode} onMode={d.setMode} />
        <DescriptionField value={d.description} onValue={d.setDescription} />
        <AccessChoice fields={d} />
        {d.mode === 'NORMAL' && (
          <InstanceChoice
            client={client}
            instances={instances}
            instanceId={d.instanceId}
            onInstance={d.chooseInstance}
            selected={d.selected}
            onSelected={d.setSelected}
            confirm={{ confirm: d.confirm, onConfirm: d.setConfirm }}
          />
        )}
        {registered.state === 'done' && (
          <RegisteredServers registered={registered.data} used={d.used} onUsed={d.setUsed} />
        )}
        <ExternalServers client={client} drafts={d.externals} onChange={d.setExternals} />
        {create.error !== null && <ProblemBox error={create.error} title="Not created" />}
        <SubmitButton busy={create.busy} disabled={!d.name.trim()} busyLabel="Creating…">
          Create server
        </SubmitButton>
      </form>
    </>
  );
}
