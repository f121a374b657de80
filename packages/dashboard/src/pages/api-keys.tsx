import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { storedKey, unwrap, type Schemas } from '../api.ts';
import { useAction } from '../components/action.ts';
import { Checks, TextField, toggled, FormEnd } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Empty, OneTimeKey, Show, when } from '../ui.tsx';
import { FormSection } from '../components/section.tsx';
import { RowDeleteButton, type RowDeletion } from '../components/delete-button.tsx';
import {
  byId,
  FormAndList,
  serverList,
  useLists,
  useRowDelete,
  type CreateFormProps,
} from '../components/list-page.tsx';
import { NarrowedTokens } from './api-keys/narrowed-tokens.tsx';
import { Link } from '../router.tsx';

type Scope = Schemas['ApiKey']['scopes'][number];
const scopes: { scope: Scope; help: string }[] = [
  { scope: 'management', help: 'this management API' },
  { scope: 'runtime', help: 'the MCP endpoints' },
  { scope: 'admin', help: 'create workspaces' },
  { scope: 'server_admin', help: 'change what its servers expose' },
  { scope: 'approve', help: 'approve or deny calls, nothing else' },
];

/** A new key's value; `changeRequestId`: its creation waits for another person's approval (four eyes, ADR 0087). */
type Made = { name: string; key: string; changeRequestId?: string | undefined };

/** What `POST /api_keys` answered: the key, or (202) its value and the change request its creation waits for. */
function madeOf(name: string, answer: Schemas['CreatedApiKey']): Made {
  const held = answer as unknown as { status?: unknown; key?: string; changeRequest?: { id: string } };
  if (held.status !== 'waits_for_approval') return { name: answer.name, key: answer.key };
  return { name, key: held.key ?? '', changeRequestId: held.changeRequest?.id };
}

/** The new key, shown once. */
function NewKey({ created, onDone }: { created: Made; onDone: () => void }) {
  const id = created.changeRequestId;
  return (
    <OneTimeKey
      id="new-key"
      title={`Key ${created.name} ${id ? 'waits for approval' : 'created'}`}
      label={`The key ${created.name}`}
      value={created.key}
      onDone={onDone}
    >
      <strong>Copy it now: it is shown only this once.</strong> Toolplane keeps only a hash of it; if it is lost, create
      another key and revoke this one.
      {id && (
        <>
          {' '}
          A new key is a new identity: it works once another person approves{' '}
          <Link href={`/change-requests/${id}`}>its change request</Link>.
        </>
      )}
    </OneTimeKey>
  );
}

function CreateKey({ client, servers, onCreated }: CreateFormProps & { servers: Schemas['McpServerSummary'][] }) {
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<Scope[]>(['management', 'runtime']);
  const [serverIds, setServerIds] = useState<string[]>([]);
  const create = useAction();
  const [created, setCreated] = useState<Made | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setCreated(null);
    const body: Schemas['CreateApiKeyBody'] = {
      name: name.trim(),
      scopes: chosen,
      ...(serverIds.length > 0 ? { serverIds } : {}),
    };
    create.run(() => unwrap(client.POST('/api_keys', { body })), {
      then: (answer) => {
        setCreated(madeOf(body.name, answer));
        setName('');
        setServerIds([]);
        onCreated();
      },
    });
  };
  return (
    <FormSection
      id="create-key"
      title="Create an API key"
      onSubmit={submit}
      after={created && <NewKey created={created} onDone={() => setCreated(null)} />}
    >
      <TextField id="key-name" label="Name" required maxLength={100} value={name} onValue={setName} />
      <fieldset>
        <legend>Scopes</legend>
        <Checks
          items={scopes}
          idOf={(s) => `scope-${s.scope}`}
          labelOf={(s) => (
            <>
              {s.scope} <span className="hint">({s.help})</span>
            </>
          )}
          checked={(s) => chosen.includes(s.scope)}
          onToggle={(s, on) => setChosen(toggled(chosen, s.scope, on))}
        />
      </fieldset>
      <fieldset>
        <legend>Servers (optional: none checked, every server)</legend>
        {servers.length === 0 ? (
          <Empty>No MCP server yet.</Empty>
        ) : (
          <Checks
            items={servers}
            idOf={(s) => `key-server-${s.id}`}
            labelOf={(s) => s.name}
            checked={(s) => serverIds.includes(s.id)}
            onToggle={(s, on) => setServerIds(toggled(serverIds, s.id, on))}
          />
        )}
      </fieldset>
      <FormEnd
        action={create}
        failed="Not created"
        disabled={!name.trim() || chosen.length === 0}
        busyLabel="Creating…"
      >
        Create key
      </FormEnd>
    </FormSection>
  );
}

function KeysTable({
  keys,
  servers,
  deletion,
}: {
  keys: Schemas['ApiKey'][];
  servers: Schemas['McpServerSummary'][];
  deletion: RowDeletion;
}) {
  const mine = storedKey()?.slice(0, 10);
  const columns: Column<Schemas['ApiKey']>[] = [
    {
      header: 'Name',
      cell: (k) => (
        <>
          {k.name}
          {k.prefix === mine && !k.revokedAt && <span className="hint"> (this session’s key)</span>}
        </>
      ),
    },
    { header: 'Prefix', cell: (k) => <code>{k.prefix}…</code> },
    { header: 'Scopes', cell: (k) => k.scopes.join(', ') },
    {
      header: 'Servers',
      cell: (k) =>
        k.serverIds === null
          ? 'every server'
          : k.serverIds.map((id) => servers.find((s) => s.id === id)?.name ?? id).join(', '),
    },
    { header: 'Last used', cell: (k) => when(k.lastUsedAt, 'never') },
    { header: 'Revoked', cell: (k) => when(k.revokedAt, 'no') },
  ];
  return (
    <ResourceTable
      rows={keys}
      columns={columns}
      caption="API keys of the workspace"
      empty="No API key yet."
      actions={(k) =>
        !k.revokedAt && (
          <RowDeleteButton
            verb="Revoke"
            row={k}
            deletion={deletion}
            then="Its callers are refused from the next request on."
          />
        )
      }
    />
  );
}

export function ApiKeysPage({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useLists(client, (c) => ({ keys: unwrap(c.GET('/api_keys')), servers: serverList(c) }));
  const { error, ...deletion } = useRowDelete((id) => unwrap(client.DELETE('/api_keys/{id}', byId(id))), reload);
  return (
    <>
      <h1>API keys</h1>
      <Show loaded={loaded} what="the API keys">
        {({ keys, servers }) => (
          <FormAndList
            form={<CreateKey client={client} servers={servers} onCreated={reload} />}
            section={{ id: 'keys', title: 'Keys', failed: 'Not revoked' }}
            failure={error}
          >
            <KeysTable keys={keys} servers={servers} deletion={deletion} />
          </FormAndList>
        )}
      </Show>
      <NarrowedTokens client={client} />
    </>
  );
}
