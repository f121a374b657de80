import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { useAction, type Action } from '../../components/action.ts';
import { CredentialInputs, typedValues, useCredentialFields } from '../../components/credential-inputs.tsx';
import { ActionOutcome, SelectField, SubmitButton } from '../../components/form.tsx';
import { ResourceTable, type Column } from '../../components/resource-table.tsx';
import { Link } from '../../router.tsx';
import { ConfirmButton, Empty, Show, useLoad, when } from '../../ui.tsx';
import { Writable } from '../../powers.tsx';
import { Section } from '../../components/section.tsx';

type Connection = Schemas['UserConnection'];

type Instance = Schemas['ConnectorInstance'];

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

export function Connections({
  client,
  user,
  instances,
}: {
  client: ManagementClient;
  user: string;
  instances: Instance[];
}) {
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
