import { useRef, useState, type FormEvent, type Ref } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { formatAttributes, parseAttributes } from '../attributes.ts';
import { useAction, type Action } from '../components/action.ts';
import { CredentialInputs, typedValues, useCredentialFields } from '../components/credential-inputs.tsx';
import { ActionOutcome, CodeArea, InlineRows, SelectField, SubmitButton, TextField } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { SecretActions } from '../components/secret-actions.tsx';
import { Link } from '../router.tsx';
import { ConfirmButton, Empty, SecretInput, Show, useLoad, when } from '../ui.tsx';
import { InArea, useMay, useMayChange, Writable } from '../powers.tsx';
import { Section } from '../components/section.tsx';
import { Facts } from '../components/facts.tsx';

type Connection = Schemas['UserConnection'];
type Instance = Schemas['ConnectorInstance'];

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
  const save = useAction();
  const mayChange = useMayChange();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let attributes: Record<string, string>;
    try {
      attributes = parseAttributes(text);
    } catch (error) {
      return save.fail(error, 'Not saved');
    }
    const params = { path: { name: user.name } };
    save.run(() => unwrap(client.PATCH('/external_users/{name}', { params, body: { attributes } })), {
      failed: 'Not saved',
      then: (saved) => {
        setText(formatAttributes(saved.attributes));
        onSaved();
        return 'Attributes saved.';
      },
    });
  };
  if (!mayChange)
    return (
      <Section id="attributes" title="Attributes">
        {text ? <pre aria-label={`Attributes of ${user.name}`}>{text}</pre> : <Empty>No attribute.</Empty>}
      </Section>
    );
  return (
    <Section id="attributes" title="Attributes">
      <form className="form" onSubmit={submit}>
        <CodeArea
          id="user-attributes-edit"
          label={
            <>
              Attributes (one name=value a line; read as <code>$current_user.&lt;name&gt;</code>; saving replaces them
              all)
            </>
          }
          rows={4}
          value={text}
          onValue={setText}
        />
        <ActionOutcome action={save} title="Not saved" />
        <SubmitButton busy={save.busy} busyLabel="Saving…">
          Save attributes
        </SubmitButton>
      </form>
    </Section>
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
function connectionStatus(c: Connection): string {
  if (c.kind !== 'oauth') return 'Stored';
  if (c.status === 'needs_reauthorization') return 'Needs re-authorisation (the next call gives a new link)';
  return c.expires_at ? `Connected (token renewed before ${when(c.expires_at)})` : 'Connected';
}

function ConnectionsTable(props: {
  user: string;
  list: Connection[];
  nameOf: (id: string) => string;
  action: Action;
  onRemove: (instanceId: string) => void;
}) {
  const { user, nameOf } = props;
  const columns: Column<Connection>[] = [
    { header: 'Connector instance', cell: (c) => nameOf(c.connector_instance_id) },
    { header: 'Kind', cell: (c) => (c.kind === 'oauth' ? 'Own account' : 'Credentials') },
    { header: 'Status', cell: connectionStatus },
    {
      header: 'Credentials or scopes',
      cell: (c) =>
        c.kind === 'oauth' ? (c.scopes ?? []).join(', ') || 'none stated' : c.credential_keys.join(', ') || 'none',
    },
    { header: 'Updated', cell: (c) => when(c.updatedAt) },
  ];
  const actions = (c: Connection) => (
    <ConfirmButton
      label={c.kind === 'oauth' ? 'Disconnect' : 'Remove'}
      name={`the connection to ${nameOf(c.connector_instance_id)}`}
      question={
        c.kind === 'oauth'
          ? `Disconnect ${user}’s account for ${nameOf(c.connector_instance_id)}? The provider is asked to revoke it.`
          : `Remove ${user}’s credentials for ${nameOf(c.connector_instance_id)}?`
      }
      confirmLabel={c.kind === 'oauth' ? 'Disconnect the account' : 'Remove the connection'}
      busy={props.action.pending === c.connector_instance_id}
      onConfirm={() => props.onRemove(c.connector_instance_id)}
    />
  );
  return (
    <ResourceTable
      rows={props.list}
      columns={columns}
      actions={actions}
      rowKey={(c) => c.connector_instance_id}
      caption={`Connections of ${user}`}
      empty="No connection yet."
    />
  );
}

/** The user's own credentials for one instance (saving replaces their previous ones). */
function SetConnection(props: {
  client: ManagementClient;
  instances: Instance[];
  action: Action;
  onSave: (instanceId: string, credentials: Record<string, string>, then: () => void) => void;
}) {
  const { instances, action } = props;
  const [instanceId, setInstanceId] = useState(instances[0]?.id ?? '');
  const [credentials, setCredentials] = useState<Record<string, string>>({});
  const fields = useCredentialFields(props.client, instances.find((i) => i.id === instanceId)?.connector_id);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    props.onSave(instanceId, typedValues(credentials), () => setCredentials({}));
  };
  const choose = (id: string) => {
    setInstanceId(id);
    setCredentials({});
  };
  return (
    <form className="form" onSubmit={submit} aria-labelledby="set-connection-title">
      <SelectField
        id="connection-instance"
        label="Connector instance"
        value={instanceId}
        onValue={choose}
        options={instances.map((i) => ({ value: i.id, label: i.name }))}
      />
      <fieldset>
        <legend>Credentials (write-only: never shown again; saving replaces the user’s previous ones)</legend>
        <CredentialInputs idPrefix="user-cred" fields={fields} values={credentials} onChange={setCredentials} />
      </fieldset>
      <SubmitButton busy={action.busy} disabled={!instanceId || fields.state !== 'done'} busyLabel="Saving…">
        Save connection
      </SubmitButton>
    </form>
  );
}

function Connections({ client, user, instances }: { client: ManagementClient; user: string; instances: Instance[] }) {
  const [connections, reload] = useLoad(
    () =>
      unwrap(client.GET('/external_users/{name}/connections', { params: { path: { name: user } } })).then(
        (r) => r.data,
      ),
    [client, user],
  );
  const action = useAction();
  const nameOf = (id: string) => instances.find((i) => i.id === id)?.name ?? id;
  const save = (instanceId: string, credentials: Record<string, string>, then: () => void) => {
    const params = { path: { name: user, instanceId } };
    action.run(
      () => unwrap(client.PUT('/external_users/{name}/connections/{instanceId}', { params, body: { credentials } })),
      {
        failed: 'Not saved',
        then: () => {
          then();
          reload();
          return `Connection to ${nameOf(instanceId)} saved.`;
        },
      },
    );
  };
  const remove = (id: string) => {
    const params = { path: { name: user, instanceId: id } };
    action.run(() => unwrap(client.DELETE('/external_users/{name}/connections/{instanceId}', { params })), {
      row: id,
      failed: 'Not removed',
      then: (ended) => {
        reload();
        // An own account answers how the revocation at the provider went.
        const revocation = ended ? revocationText[ended.revocation] : '';
        return `Connection to ${nameOf(id)} removed.${revocation ? ` ${revocation}` : ''}`;
      },
    });
  };
  return (
    <Section id="connections" title="Connections">
      <p className="hint">
        The user’s own credentials for a connector instance (their calls of its tools use these instead of the
        instance’s; values are write-only: only the names of the keys set are shown), or their own account, connected by
        the person with a link their agent gave them (never a token shown).
      </p>
      <Show loaded={connections} what="the connections">
        {(list) => <ConnectionsTable user={user} list={list} nameOf={nameOf} action={action} onRemove={remove} />}
      </Show>
      <Writable>
        <h3 id="set-connection-title">Set a connection</h3>
        {instances.length === 0 ? (
          <Empty>
            No connector instance yet: create one under <Link href="/instances">Connector instances</Link>.
          </Empty>
        ) : (
          <SetConnection client={client} instances={instances} action={action} onSave={save} />
        )}
      </Writable>
      <ActionOutcome action={action} title="Not saved" />
    </Section>
  );
}

interface External {
  serverId: string;
  serverName: string;
  external: string;
  headerNames: string[];
}

interface HeaderRow {
  key: number;
  name: string;
  value: string;
}

const keyOf = (x: External) => `${x.serverId}/${x.external}`;
const labelOf = (x: External) => `${x.external} (of ${x.serverName})`;

/** The header rows of the chosen external server: its configured header names, values to type. */
function useHeaderRows() {
  const nextKey = useRef(1);
  const rowsFor = (x: External | undefined): HeaderRow[] =>
    (x && x.headerNames.length > 0 ? x.headerNames : ['']).map((name) => ({ key: nextKey.current++, name, value: '' }));
  const add = (rows: HeaderRow[]) => [...rows, { key: nextKey.current++, name: '', value: '' }];
  return { rowsFor, add };
}

function HeaderFields({
  row,
  index,
  onRow,
}: {
  row: HeaderRow;
  index: number;
  onRow: (patch: Partial<HeaderRow>) => void;
}) {
  return (
    <>
      <TextField
        inline
        id={`mcp-header-name-${row.key}`}
        label={`Header ${index + 1} name`}
        autoComplete="off"
        value={row.name}
        onValue={(name) => onRow({ name })}
      />
      <div className="field">
        <label htmlFor={`mcp-header-value-${row.key}`}>Header {index + 1} value</label>
        <SecretInput id={`mcp-header-value-${row.key}`} value={row.value} onValue={(value) => onRow({ value })} />
      </div>
    </>
  );
}

/** The headers sent for the user to one external MCP server of one of the workspace's servers. */
function McpHeadersForm(props: { client: ManagementClient; user: string; externals: External[]; action: Action }) {
  const { client, user, externals, action } = props;
  const rowsOf = useHeaderRows();
  const [chosen, setChosen] = useState(externals[0] ? keyOf(externals[0]) : '');
  const target = externals.find((x) => keyOf(x) === chosen);
  const [rows, setRows] = useState<HeaderRow[]>(() => rowsOf.rowsFor(target));
  const choose = (key: string) => {
    setChosen(key);
    setRows(rowsOf.rowsFor(externals.find((x) => keyOf(x) === key)));
  };
  const path = target && { name: user, serverId: target.serverId, external: target.external };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!target || !path) return;
    const headers = Object.fromEntries(rows.filter((r) => r.name.trim()).map((r) => [r.name.trim(), r.value]));
    const url = '/external_users/{name}/mcp_connections/{serverId}/{external}' as const;
    action.run(() => unwrap(client.PUT(url, { params: { path }, body: { headers } })), {
      failed: 'Not saved',
      then: (saved) => {
        setRows((rs) => rs.map((r) => ({ ...r, value: '' })));
        return `Headers for ${labelOf(target)} saved: ${saved.header_names.join(', ') || 'none'}.`;
      },
    });
  };
  const remove = () => {
    if (!target || !path) return;
    const url = '/external_users/{name}/mcp_connections/{serverId}/{external}' as const;
    action.run(() => unwrap(client.DELETE(url, { params: { path } })), {
      row: 'remove',
      failed: 'Not removed',
      then: () => `Headers for ${labelOf(target)} removed.`,
    });
  };
  return (
    <form className="form" onSubmit={submit} aria-labelledby="mcp-connections-title">
      <SelectField
        id="mcp-external"
        label="External MCP server"
        value={chosen}
        onValue={choose}
        options={externals.map((x) => ({ value: keyOf(x), label: labelOf(x) }))}
      />
      <fieldset>
        <legend>Headers (values write-only)</legend>
        <InlineRows
          rows={rows}
          fields={(r, i) => (
            <HeaderFields
              row={r}
              index={i}
              onRow={(patch) => setRows((rs) => rs.map((x) => (x.key === r.key ? { ...x, ...patch } : x)))}
            />
          )}
          canRemove={rows.length > 1}
          removeLabel={(_, i) => `Remove header ${i + 1}`}
          onRemove={(r) => setRows((rs) => rs.filter((x) => x.key !== r.key))}
          addLabel="Add a header"
          onAdd={() => setRows(rowsOf.add)}
        />
      </fieldset>
      <div className="buttons">
        <SubmitButton busy={action.busy} disabled={!target || !rows.some((r) => r.name.trim())} busyLabel="Saving…">
          Save headers
        </SubmitButton>
        {target && (
          <ConfirmButton
            label="Remove headers"
            name={`for ${labelOf(target)}`}
            question={`Remove ${user}’s headers for ${labelOf(target)}?`}
            confirmLabel="Remove the headers"
            busy={action.pending === 'remove'}
            onConfirm={remove}
          />
        )}
      </div>
    </form>
  );
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
  const action = useAction();
  return (
    <Section id="mcp-connections" title="MCP connections">
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
        <McpHeadersForm client={client} user={user} externals={externals} action={action} />
      )}
      <ActionOutcome action={action} title="Not saved" />
    </Section>
  );
}

function SetUserSecret(props: {
  action: Action;
  name: string;
  onName: (name: string) => void;
  value: string;
  onValue: (value: string) => void;
  valueRef: Ref<HTMLInputElement>;
  onSet: () => void;
}) {
  const submit = (e: FormEvent) => {
    e.preventDefault();
    props.onSet();
  };
  return (
    <>
      <h3 id="set-secret-title">Set or rotate a secret</h3>
      <form className="form" onSubmit={submit} aria-labelledby="set-secret-title">
        <TextField
          id="user-secret-name"
          label="Secret name"
          required
          autoComplete="off"
          value={props.name}
          onValue={props.onName}
        />
        <label htmlFor="user-secret-value">Secret value (write-only)</label>
        <SecretInput
          id="user-secret-value"
          inputRef={props.valueRef}
          required
          value={props.value}
          onValue={props.onValue}
        />
        <SubmitButton busy={props.action.busy} disabled={!props.name.trim() || props.value === ''} busyLabel="Setting…">
          Set secret
        </SubmitButton>
      </form>
    </>
  );
}

/** The user's secrets: listed, set (`then`: the form is cleared) and deleted. */
function useUserSecrets(client: ManagementClient, user: string) {
  const [secrets, reload] = useLoad(
    () =>
      unwrap(client.GET('/external_users/{name}/secrets', { params: { path: { name: user } } })).then((r) => r.data),
    [client, user],
  );
  const action = useAction();
  const set = (secret: string, value: string, then: () => void) => {
    const params = { path: { name: user, secret } };
    action.run(() => unwrap(client.PUT('/external_users/{name}/secrets/{secret}', { params, body: { value } })), {
      failed: 'Not set',
      then: () => {
        then();
        reload();
        return `Secret ${secret} set.`;
      },
    });
  };
  const remove = (secret: string) => {
    const params = { path: { name: user, secret } };
    action.run(() => unwrap(client.DELETE('/external_users/{name}/secrets/{secret}', { params })), {
      row: secret,
      failed: 'Not deleted',
      then: () => {
        reload();
        return `Secret ${secret} deleted.`;
      },
    });
  };
  return { secrets, action, set, remove };
}

function Secrets({ client, user }: { client: ManagementClient; user: string }) {
  const { secrets, action, set: setSecret, remove } = useUserSecrets(client, user);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const valueRef = useRef<HTMLInputElement>(null);
  const set = () =>
    setSecret(name.trim(), value, () => {
      setName('');
      setValue('');
    });
  const rotate = (secret: string) => {
    setName(secret);
    setValue('');
    valueRef.current?.focus();
  };
  const columns: Column<Schemas['UserSecretListing']>[] = [
    { header: 'Name', cell: (s) => <code>{s.name}</code> },
    { header: 'Updated', cell: (s) => when(s.updatedAt) },
    {
      header: 'Actions',
      className: 'buttons',
      cell: (s) => (
        <SecretActions
          name={s.name}
          question={`Delete ${user}’s secret ${s.name}?`}
          busy={action.pending === s.name}
          onRotate={() => rotate(s.name)}
          onDelete={() => remove(s.name)}
        />
      ),
    },
  ];
  return (
    <Section id="user-secrets" title="Secrets">
      <p className="hint">
        The user’s own values of <code>$secrets.NAME</code> in workflows run for them. Only names are shown; to rotate
        one, set it again.
      </p>
      <ResourceTable
        loaded={secrets}
        what="the secrets"
        columns={columns}
        rowKey={(s) => s.name}
        caption={`Secrets of ${user}`}
        empty="No secret yet."
      />
      <Writable>
        <SetUserSecret
          action={action}
          name={name}
          onName={setName}
          value={value}
          onValue={setValue}
          valueRef={valueRef}
          onSet={set}
        />
      </Writable>
      <ActionOutcome action={action} title="Not set" />
    </Section>
  );
}

function UserFacts({ user }: { user: Schemas['ExternalUser'] }) {
  return (
    <Facts
      facts={[
        ['Id', <code>{user.id}</code>],
        ['Created', when(user.createdAt)],
      ]}
    />
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
  const maySeeSecrets = useMay('secrets', 'read');
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
              <UserFacts user={user} />
              <Attributes client={client} user={user} onSaved={reload} />
              <Connections client={client} user={user.name} instances={instances} />
              <Writable>
                <McpConnections client={client} user={user.name} servers={servers} />
              </Writable>
              {maySeeSecrets && (
                <InArea area="secrets">
                  <Secrets client={client} user={user.name} />
                </InArea>
              )}
            </>
          )
        }
      </Show>
    </>
  );
}
