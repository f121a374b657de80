import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { instancesAndServers, unwrap, type Schemas } from '../api.ts';
import { formatAttributes, parseAttributes } from '../attributes.ts';
import { useAction } from '../components/action.ts';
import { ActionOutcome, CodeArea, SubmitButton } from '../components/form.tsx';
import { Link } from '../router.tsx';
import { Empty, Show, useLoad, when } from '../ui.tsx';
import { Readable, useMayChange, Writable } from '../powers.tsx';
import { FormSection, Section, Crumbs } from '../components/section.tsx';
import { Facts } from '../components/facts.tsx';
import { Connections } from './external-user/connections.tsx';
import { McpConnections } from './external-user/mcp-connections.tsx';
import { Secrets } from './external-user/secrets.tsx';

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
    <FormSection id="attributes" title="Attributes" onSubmit={submit}>
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
    </FormSection>
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
    const [users, { instances, servers }] = await Promise.all([
      unwrap(client.GET('/external_users', { params: { query: { name } } })),
      instancesAndServers(client),
    ]);
    return { user: users.data[0] ?? null, instances, servers };
  }, [client, name]);
  return (
    <>
      <Crumbs up="/external-users" label="External users">
        {name}
      </Crumbs>
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
              <Readable area="secrets">
                <Secrets client={client} user={user.name} />
              </Readable>
            </>
          )
        }
      </Show>
    </>
  );
}
