import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { parseAttributes } from '../attributes.ts';
import { useAction, type Action } from '../components/action.ts';
import { ActionError, CodeArea, SubmitButton, Success, TextField } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link } from '../router.tsx';
import { ConfirmButton, useLoad, when } from '../ui.tsx';

type User = Schemas['ListedExternalUser'];

function CreateUser({
  action,
  onCreate,
}: {
  action: Action;
  onCreate: (name: string, attributes: string, then: () => void) => void;
}) {
  const [name, setName] = useState('');
  const [attributes, setAttributes] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onCreate(name, attributes, () => {
      setName('');
      setAttributes('');
    });
  };
  return (
    <section aria-labelledby="create-user-title">
      <h2 id="create-user-title">Create an external user</h2>
      <form className="form" onSubmit={submit}>
        <TextField id="user-name" label="Name" required value={name} onValue={setName} autoComplete="off" />
        <CodeArea
          id="user-attributes"
          label="Attributes (optional, one name=value a line)"
          rows={3}
          value={attributes}
          onValue={setAttributes}
        />
        <ActionError action={action} title="Not done" />
        <SubmitButton busy={action.busy} disabled={!name.trim()} busyLabel="Creating…">
          Create user
        </SubmitButton>
      </form>
      <Success>{action.done}</Success>
    </section>
  );
}

const columns: Column<User>[] = [
  { header: 'Name', cell: (u) => <Link href={`/external-users/${encodeURIComponent(u.name)}`}>{u.name}</Link> },
  {
    header: 'Attributes',
    cell: (u) =>
      Object.entries(u.attributes)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '—',
  },
  { header: 'Connections', cell: (u) => u.connections.length },
  { header: 'Created', cell: (u) => when(u.createdAt) },
];

export function ExternalUsersPage({ client }: { client: ManagementClient }) {
  const [users, reload] = useLoad(() => unwrap(client.GET('/external_users')).then((r) => r.data), [client]);
  const action = useAction();
  const create = (name: string, text: string, then: () => void) => {
    let attributes: Record<string, string>;
    try {
      attributes = parseAttributes(text);
    } catch (err) {
      return action.fail(err);
    }
    action.run(() => unwrap(client.POST('/external_users', { body: { name: name.trim(), attributes } })), {
      then: (user) => {
        then();
        reload();
        return `Created ${user.name}.`;
      },
    });
  };
  const remove = (name: string) =>
    action.run(() => unwrap(client.DELETE('/external_users/{name}', { params: { path: { name } } })), {
      row: name,
      then: () => {
        reload();
        return `Deleted ${name}.`;
      },
    });
  return (
    <>
      <h1>External users</h1>
      <p className="hint">
        The people your application calls tools for (<code>x-username</code>): each may have their own credentials;
        attributes are what workflows read as <code>$current_user.&lt;name&gt;</code>. Open a user to edit their
        attributes, connections, MCP connections and secrets.
      </p>
      <CreateUser action={action} onCreate={create} />
      <section aria-labelledby="users-title">
        <h2 id="users-title">Users</h2>
        <ResourceTable
          loaded={users}
          what="the external users"
          columns={columns}
          rowKey={(u) => u.id}
          caption="External users of the workspace"
          empty="No external user yet."
          actions={(u) => (
            <ConfirmButton
              label="Delete"
              name={u.name}
              question={`Delete ${u.name} and their credentials?`}
              confirmLabel={`Delete ${u.name}`}
              busy={action.pending === u.name}
              onConfirm={() => remove(u.name)}
            />
          )}
        />
      </section>
    </>
  );
}
