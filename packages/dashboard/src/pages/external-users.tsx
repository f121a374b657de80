import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../api.ts';
import { parseAttributes } from '../attributes.ts';
import { useAction, type Action } from '../components/action.ts';
import { ActionError, CodeArea, Success, NameField, FormEnd } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link } from '../router.tsx';
import { ConfirmButton, OneTimeKey, Show, useLoad, when, type Loaded } from '../ui.tsx';
import { Writable } from '../powers.tsx';
import { FormSection, Section } from '../components/section.tsx';
import { DeleteButton } from '../components/delete-button.tsx';
import { Facts } from '../components/facts.tsx';
import { FormAndList } from '../components/list-page.tsx';

type User = Schemas['ListedExternalUser'];
/** Users a page shows, oldest first. */
const PAGE_SIZE = 100;

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
    <FormSection id="create-user" title="Create an external user" onSubmit={submit} done={action.done}>
      <NameField id="user-name" value={name} onValue={setName} />
      <CodeArea
        id="user-attributes"
        label="Attributes (optional, one name=value a line)"
        rows={3}
        value={attributes}
        onValue={setAttributes}
      />
      <FormEnd action={action} failed="Not done" disabled={!name.trim()} busyLabel="Creating…">
        Create user
      </FormEnd>
    </FormSection>
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

type ScimToken = Schemas['ScimToken'];

/** The workspace's SCIM token (`GET /scim_token`), or null when it has none (404). */
function useScimToken(client: ManagementClient) {
  return useLoad(
    () =>
      unwrap(client.GET('/scim_token')).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }),
    [client],
  );
}

/** A new token's value; `changeRequestId`: its creation waits for another person's approval (four eyes, ADR 0087). */
type MadeToken = { token: string; changeRequestId?: string | undefined };

/** What `POST /scim_token` answered: the token, or (202) its value and the change request its creation waits for. */
function madeTokenOf(answer: Schemas['CreatedScimToken']): MadeToken {
  const held = answer as unknown as { status?: unknown; key?: string; changeRequest?: { id: string } };
  if (held.status !== 'waits_for_approval') return { token: answer.token };
  return { token: held.key ?? '', changeRequestId: held.changeRequest?.id };
}

/** The new token, shown once. */
function NewScimToken({ created, onDone }: { created: MadeToken; onDone: () => void }) {
  const id = created.changeRequestId;
  return (
    <OneTimeKey
      id="new-scim-token"
      title={id ? 'SCIM token waits for approval' : 'SCIM token created'}
      label="The SCIM token"
      value={created.token}
      onDone={onDone}
    >
      <strong>Copy it now: it is shown only this once.</strong> Give your identity provider the SCIM base URL{' '}
      <code>{`${window.location.origin}/scim/v2`}</code> and this token as its bearer token. Toolplane keeps only a hash
      of it; if it is lost, rotate it.
      {id && (
        <>
          {' '}
          A new SCIM token adds people and groups: it works once another person approves{' '}
          <Link href={`/change-requests/${id}`}>its change request</Link>.
        </>
      )}
    </OneTimeKey>
  );
}

function ScimTokenFacts({ token }: { token: ScimToken }) {
  return (
    <Facts
      facts={[
        ['Prefix', <code>{token.prefix}…</code>],
        ['Created', when(token.createdAt)],
        ['Last used', when(token.lastUsedAt, 'never')],
        ['SCIM base URL', <code>{`${window.location.origin}${token.endpoint}`}</code>],
      ]}
    />
  );
}

/**
 * Provisioning from the identity provider (SCIM 2.0): whether the workspace has a token (never its value after its
 * creation), create or rotate it (the value shown once), delete it. Admins only: the roles that cannot change people
 * do not see it.
 */
function ScimProvisioning({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useScimToken(client);
  const action = useAction();
  const [created, setCreated] = useState<MadeToken | null>(null);
  const rotate = () =>
    action.run(() => unwrap(client.POST('/scim_token')), {
      then: (answer) => {
        setCreated(madeTokenOf(answer));
        reload();
      },
      failed: 'Not created',
    });
  const remove = () =>
    action.run(() => unwrap(client.DELETE('/scim_token')), {
      then: () => {
        setCreated(null);
        reload();
        return 'SCIM token deleted: the identity provider is refused from now on.';
      },
      failed: 'Not deleted',
    });
  return (
    <Section id="scim" title="Provisioning from your identity provider (SCIM)">
      <p className="hint">
        With a SCIM token, your identity provider creates, updates, deactivates and deletes these users and their groups
        (SCIM 2.0). Deleting the token stops it; the users and groups stay.
      </p>
      <Show loaded={loaded} what="the SCIM token">
        {(token) => (
          <>
            {token ? <ScimTokenFacts token={token} /> : <p>No SCIM token: provisioning is off.</p>}
            <ActionError action={action} title="Not done" />
            <p>
              <button type="button" onClick={rotate} disabled={action.busy}>
                {token ? 'Rotate the SCIM token' : 'Create a SCIM token'}
              </button>{' '}
              {token && (
                <DeleteButton
                  name="the SCIM token"
                  then="The identity provider is refused from its next request on."
                  busy={action.busy}
                  onConfirm={remove}
                />
              )}
            </p>
            <Success>{action.done}</Success>
          </>
        )}
      </Show>
      {created && <NewScimToken created={created} onDone={() => setCreated(null)} />}
    </Section>
  );
}

/** "Previous" and "Next" under the list: `trail` holds the cursors of the pages before the one shown. */
function PageButtons({
  trail,
  next,
  onTrail,
}: {
  trail: string[];
  next: string | null;
  onTrail: (trail: string[]) => void;
}) {
  if (trail.length === 0 && !next) return null;
  return (
    <p>
      {trail.length > 0 && (
        <button type="button" className="secondary" onClick={() => onTrail(trail.slice(0, -1))}>
          Previous {PAGE_SIZE}
        </button>
      )}{' '}
      {next && (
        <button type="button" className="secondary" onClick={() => onTrail([...trail, next])}>
          Next {PAGE_SIZE}
        </button>
      )}
    </p>
  );
}

export function ExternalUsersPage({ client }: { client: ManagementClient }) {
  // The cursors of the pages before the one shown (`GET /external_users` pages oldest first, PAGE_SIZE at a time).
  const [trail, setTrail] = useState<string[]>([]);
  const cursor = trail.at(-1);
  const [page, reload] = useLoad(
    () =>
      unwrap(client.GET('/external_users', { params: { query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } } })),
    [client, cursor],
  );
  const users: Loaded<User[]> = page.state === 'done' ? { state: 'done', data: page.data.data } : page;
  const next = page.state === 'done' ? page.data.next_cursor : null;
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
      <FormAndList form={<CreateUser action={action} onCreate={create} />} section={{ id: 'users', title: 'Users' }}>
        <ResourceTable
          loaded={users}
          what="the external users"
          columns={columns}
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
        <PageButtons trail={trail} next={next} onTrail={setTrail} />
      </FormAndList>
      <Writable>
        <ScimProvisioning client={client} />
      </Writable>
    </>
  );
}
