import { type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { useAction, type Action } from '../../components/action.ts';
import { ActionOutcome, SubmitButton, NameField } from '../../components/form.tsx';
import { ResourceTable, type Column } from '../../components/resource-table.tsx';
import { SecretActions, useSecretDraft, type SecretDraft } from '../../components/secret-actions.tsx';
import { SecretInput, useLoad, when } from '../../ui.tsx';
import { Writable } from '../../powers.tsx';
import { Section } from '../../components/section.tsx';

function SetUserSecret(props: { action: Action; draft: SecretDraft; onSet: () => void }) {
  const { name, value } = props.draft;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    props.onSet();
  };
  return (
    <>
      <h3 id="set-secret-title">Set or rotate a secret</h3>
      <form className="form" onSubmit={submit} aria-labelledby="set-secret-title">
        <NameField id="user-secret-name" label="Secret name" value={name} onValue={props.draft.setName} />
        <label htmlFor="user-secret-value">Secret value (write-only)</label>
        <SecretInput
          id="user-secret-value"
          inputRef={props.draft.valueRef}
          required
          value={value}
          onValue={props.draft.setValue}
        />
        <SubmitButton busy={props.action.busy} disabled={!name.trim() || value === ''} busyLabel="Setting…">
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

export function Secrets({ client, user }: { client: ManagementClient; user: string }) {
  const { secrets, action, set: setSecret, remove } = useUserSecrets(client, user);
  const draft = useSecretDraft();
  const set = () => setSecret(draft.name.trim(), draft.value, draft.clear);
  const rotate = (secret: string) => {
    draft.setValue('');
    draft.rotate(secret);
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
        <SetUserSecret action={action} draft={draft} onSet={set} />
      </Writable>
      <ActionOutcome action={action} title="Not set" />
    </Section>
  );
}
