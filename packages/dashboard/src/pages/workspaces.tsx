import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { storedCredential, storedKey, unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { useAction } from '../components/action.ts';
import { NameField, FormEnd } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { OneTimeKey, Show, useLoad, when } from '../ui.tsx';
import { Writable } from '../powers.tsx';
import { FormSection, Section } from '../components/section.tsx';
import { Facts } from '../components/facts.tsx';
import type { CreateFormProps } from '../components/list-page.tsx';

const slugLabel = 'Name (a slug: lower-case letters, digits, - and _)';

/** The new workspace's first key, shown once. */
function NewWorkspaceKey({ created, onDone }: { created: Schemas['CreatedWorkspace']; onDone: () => void }) {
  return (
    <OneTimeKey
      id="new-workspace-key"
      title={`Workspace ${created.name} created`}
      label={`The first API key of ${created.name}`}
      value={created.apiKey.key}
      onDone={onDone}
    >
      <strong>Copy its first API key now: it is shown only this once.</strong> Toolplane keeps only a hash of it. It has
      the{' '}
      {created.apiKey.scopes.map((scope, i) => (
        <span key={scope}>
          {i > 0 && ' and '}
          <code>{scope}</code>
        </span>
      ))}{' '}
      scopes of the new workspace; sign in with it to work there. If it is lost, an admin of the organization cannot
      show it again.
    </OneTimeKey>
  );
}

function CreateWorkspace({ client, onCreated }: CreateFormProps) {
  const [name, setName] = useState('');
  const create = useAction();
  const [created, setCreated] = useState<Schemas['CreatedWorkspace'] | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setCreated(null);
    create.run(() => unwrap(client.POST('/workspaces', { body: { name: name.trim() } })), {
      then: (workspace) => {
        setCreated(workspace);
        setName('');
        onCreated();
      },
    });
  };
  return (
    <FormSection
      id="create-workspace"
      title="Create a workspace"
      onSubmit={submit}
      after={created && <NewWorkspaceKey created={created} onDone={() => setCreated(null)} />}
    >
      <NameField id="workspace-name" label={slugLabel} value={name} onValue={setName} />
      <FormEnd action={create} failed="Not created" disabled={!name.trim()} busyLabel="Creating…">
        Create workspace
      </FormEnd>
    </FormSection>
  );
}

/**
 * Whether this session has the `admin` scope: a signed-in user's token says so; a key, its entry among the
 * workspace's keys (by prefix). Null when the keys cannot be listed (then the page does not offer what the key may
 * not do).
 */
async function sessionKeyIsAdmin(client: ManagementClient): Promise<boolean | null> {
  const credential = storedCredential();
  if (credential?.kind === 'token') return credential.scopes.includes('admin');
  const prefix = storedKey()?.slice(0, 10);
  try {
    const keys = await unwrap(client.GET('/api_keys'));
    const mine = keys.data.find((k) => k.prefix === prefix && !k.revokedAt);
    return mine ? mine.scopes.includes('admin') : null;
  } catch {
    return null;
  }
}

type Workspace = Schemas['Workspace'];

function CurrentWorkspace({ current }: { current: Workspace }) {
  return (
    <Section id="current-workspace" title="This session’s workspace">
      <Facts
        facts={[
          ['Name', current.name],
          ['Id', <code>{current.id}</code>],
          ['Organization', <code>{current.organizationId}</code>],
          ['Created', when(current.createdAt)],
        ]}
      />
    </Section>
  );
}

/** Why this session cannot create workspaces: its key has no admin scope, or could not be checked. */
function NoAdmin({ admin }: { admin: boolean | null }) {
  return (
    <Section id="create-workspace" title="Create a workspace">
      <p>
        {admin === false
          ? 'This session’s API key has no admin scope, so it cannot create workspaces and sees only its own.'
          : 'This session’s API key could not be checked for the admin scope, so no workspace can be created here.'}{' '}
        Sign in with a key that has the <code>admin</code> scope (see <Link href="/api-keys">API keys</Link>) to create
        one.
      </p>
    </Section>
  );
}

export function WorkspacesPage({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useLoad(async () => {
    const [current, list, admin] = await Promise.all([
      unwrap(client.GET('/workspaces/current')),
      unwrap(client.GET('/workspaces')),
      sessionKeyIsAdmin(client),
    ]);
    return { current, workspaces: list.data, admin };
  }, [client]);
  return (
    <>
      <h1>Workspaces</h1>
      <p className="hint">
        Every resource belongs to one workspace; keys of one workspace see and reach nothing of another. An API key with
        the <code>admin</code> scope sees all the workspaces of its organization and may create more.
      </p>
      <Show loaded={loaded} what="the workspaces">
        {({ current, workspaces, admin }) => {
          const columns: Column<Workspace>[] = [
            {
              header: 'Name',
              cell: (w) => (
                <>
                  {w.name}
                  {w.id === current.id && <span className="hint"> (this session’s)</span>}
                </>
              ),
            },
            { header: 'Id', cell: (w) => <code>{w.id}</code> },
            { header: 'Created', cell: (w) => when(w.createdAt) },
          ];
          return (
            <>
              <CurrentWorkspace current={current} />
              <Writable>
                {admin ? <CreateWorkspace client={client} onCreated={reload} /> : <NoAdmin admin={admin} />}
              </Writable>
              <Section id="workspaces" title={admin ? 'Workspaces of the organization' : 'Workspaces you can see'}>
                <ResourceTable rows={workspaces} columns={columns} caption="Workspaces" empty="No workspace." />
              </Section>
            </>
          );
        }}
      </Show>
    </>
  );
}
