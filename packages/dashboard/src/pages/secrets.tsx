import { type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { useAction, type Action } from '../components/action.ts';
import { NameField, FormEnd } from '../components/form.tsx';
import { AddressSelect } from '../components/filters.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { SecretActions, useSecretDraft, type SecretDraft } from '../components/secret-actions.tsx';
import { ErrorBox, SecretInput, useLoad, when, type Loaded } from '../ui.tsx';
import { Writable } from '../powers.tsx';
import { FormSection, Section } from '../components/section.tsx';

type Secret = Schemas['WorkspaceSecret'] | Schemas['ServerSecret'];
type Servers = Loaded<Schemas['McpServerSummary'][]>;

/** The secrets of the workspace, or of server `serverId`: listed, set or rotated, deleted. */
function useSecrets(client: ManagementClient, serverId: string) {
  const [secrets, reload] = useLoad(
    (): Promise<Secret[]> =>
      serverId
        ? unwrap(client.GET('/mcp_servers/{id}/secrets', { params: { path: { id: serverId } } })).then((r) => r.data)
        : unwrap(client.GET('/secrets')).then((r) => r.data),
    [client, serverId],
  );
  const action = useAction();
  const save = (name: string, value: string, then: () => void) => {
    const rotating = secrets.state === 'done' && secrets.data.some((s) => s.name === name);
    const body = { value };
    const call = (): Promise<Secret> =>
      serverId
        ? unwrap(client.PUT('/mcp_servers/{id}/secrets/{name}', { params: { path: { id: serverId, name } }, body }))
        : unwrap(client.PUT('/secrets/{name}', { params: { path: { name } }, body }));
    action.run(call, {
      then: () => {
        then();
        reload();
        return `${rotating ? 'Rotated' : 'Created'} ${name}. Its value is not shown again.`;
      },
    });
  };
  const remove = (name: string) => {
    const call = (): Promise<unknown> =>
      serverId
        ? unwrap(client.DELETE('/mcp_servers/{id}/secrets/{name}', { params: { path: { id: serverId, name } } }))
        : unwrap(client.DELETE('/secrets/{name}', { params: { path: { name } } }));
    action.run(call, {
      row: name,
      then: () => {
        reload();
        return `Deleted ${name}.`;
      },
    });
  };
  return { secrets, action, save, remove };
}

/** Whose secrets the page shows: the workspace's or a server's (in the address: `?server=<id>`). */
function ScopeChoice({ serverId, servers }: { serverId: string; servers: Servers }) {
  const list = servers.state === 'done' ? servers.data : [];
  return (
    <>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <AddressSelect
          id="secrets-of"
          label="Show the secrets of"
          path="/secrets"
          param="server"
          value={serverId}
          options={[
            { value: '', label: 'The workspace' },
            ...list.map((s) => ({ value: s.id, label: `Server ${s.name}` })),
          ]}
        />
      </form>
      {servers.state === 'error' && <ErrorBox error={servers.error} title="Could not load the servers" />}
    </>
  );
}

/** Sets a secret (a new name) or rotates it (a known one); the value is cleared once the store has it. */
function SetSecret(props: {
  scopeLabel: string;
  known: string[];
  action: Action;
  draft: SecretDraft;
  onSave: (name: string, value: string, then: () => void) => void;
}) {
  const { action, draft } = props;
  const { name, value } = draft;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    props.onSave(name.trim(), value, draft.clear);
  };
  return (
    <FormSection
      id="set-secret"
      title={<>Set or rotate a secret of the {props.scopeLabel}</>}
      onSubmit={submit}
      done={action.done}
    >
      <NameField
        id="secret-name"
        pattern="[A-Za-z0-9_\-]{1,128}"
        title="Letters, digits, _ and -, at most 128"
        value={name}
        onValue={draft.setName}
      />
      <label htmlFor="secret-value">Value (write-only: never shown again)</label>
      <SecretInput id="secret-value" inputRef={draft.valueRef} required value={value} onValue={draft.setValue} />
      <p className="hint">
        {props.known.includes(name.trim())
          ? `${name.trim()} exists: saving rotates it (the current value stays as the previous version).`
          : 'A new name creates the secret; an existing one is rotated.'}
      </p>
      <FormEnd action={action} failed="Not saved" disabled={!name.trim() || value === ''} busyLabel="Saving…">
        Save secret
      </FormEnd>
    </FormSection>
  );
}

/**
 * Workspace secrets, or one server's (`?server=<id>`): names, versions and dates only. Values are write-only: typed
 * in a password field, sent once, and cleared from the page as soon as the store has them.
 */
export function SecretsPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const serverId = query.get('server') ?? '';
  const [servers] = useLoad(
    () => unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })).then((r) => r.data),
    [client],
  );
  const { secrets, action, save, remove } = useSecrets(client, serverId);
  const draft = useSecretDraft();
  const server = servers.state === 'done' ? servers.data.find((s) => s.id === serverId) : undefined;
  const scopeLabel = serverId ? `server ${server?.name ?? serverId}` : 'workspace';
  const columns: Column<Secret>[] = [
    { header: 'Name', cell: (s) => <code>{s.name}</code> },
    { header: 'Version', cell: (s) => <code>{s.version.slice(0, 12)}</code> },
    { header: 'Versions kept', cell: (s) => s.versions.map((v) => v.stages.join('+') || 'old').join(', ') },
    { header: 'Created', cell: (s) => when(s.created_at) },
    { header: 'Updated', cell: (s) => when(s.updated_at) },
  ];
  return (
    <>
      <h1>Secrets</h1>
      <ScopeChoice serverId={serverId} servers={servers} />
      <p className="hint">
        {serverId
          ? 'A server’s secrets are what its workflows read as $secrets.NAME (before a workspace secret of the same name).'
          : 'Workspace secrets are shared by the workspace’s servers: a workflow reads $secrets.NAME here when its server has no secret of that name.'}{' '}
        Values go straight to the secrets store and never come back.
      </p>
      <Writable>
        <SetSecret
          scopeLabel={scopeLabel}
          known={secrets.state === 'done' ? secrets.data.map((s) => s.name) : []}
          action={action}
          draft={draft}
          onSave={save}
        />
      </Writable>
      <Section id="secrets" title={<>Secrets of the {scopeLabel}</>}>
        <ResourceTable
          loaded={secrets}
          what="the secrets"
          columns={columns}
          rowKey={(s: Secret) => s.name}
          caption={`Secrets of the ${scopeLabel}`}
          empty="No secret yet."
          actions={(s) => (
            <SecretActions
              name={s.name}
              question={`Delete ${s.name}? Tools reading it will fail.`}
              busy={action.pending === s.name}
              onRotate={() => draft.rotate(s.name)}
              onDelete={() => remove(s.name)}
            />
          )}
        />
      </Section>
    </>
  );
}
