import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { useAction } from '../../components/action.ts';
import { ActionOutcome, SubmitButton, TextField } from '../../components/form.tsx';
import { Show, useLoad } from '../../ui.tsx';
import { Section } from '../../components/section.tsx';
import { Facts } from '../../components/facts.tsx';

/**
 * The registry the workspace searches and adds from, and the namespace of the one it serves; empty fields go back
 * to the defaults. The server checks both (a 422 lists each problem).
 */
export function SourceSettings({ client, onSaved }: { client: ManagementClient; onSaved: () => void }) {
  const [loaded, reload] = useLoad(() => unwrap(client.GET('/registry/settings')), [client]);
  return (
    <Section id="registry-source" title="Registry source">
      <Show loaded={loaded} what="the registry settings">
        {(settings) => (
          <SettingsForm
            client={client}
            settings={settings}
            onSaved={() => {
              reload();
              onSaved();
            }}
          />
        )}
      </Show>
    </Section>
  );
}

function SettingsForm({
  client,
  settings,
  onSaved,
}: {
  client: ManagementClient;
  settings: Schemas['RegistrySettings'];
  onSaved: () => void;
}) {
  const [sourceUrl, setSourceUrl] = useState(settings.sourceUrl ?? '');
  const [namespace, setNamespace] = useState(settings.namespace ?? '');
  const save = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = { sourceUrl: sourceUrl.trim() || null, namespace: namespace.trim() || null };
    save.run(() => unwrap(client.PUT('/registry/settings', { body })), {
      then: (saved) => {
        onSaved();
        return `Saved: searching ${saved.effective.sourceUrl}, serving as ${saved.effective.namespace}.`;
      },
    });
  };
  return (
    <>
      <Facts
        facts={[
          [
            'Searched and added from',
            <>
              <code>{settings.effective.sourceUrl}</code>
              {settings.sourceUrl === null && ' (the default)'}
            </>,
          ],
          [
            'Namespace served',
            <>
              <code>{settings.effective.namespace}</code>
              {settings.namespace === null && ' (the default)'}
            </>,
          ],
        ]}
      />
      <form className="form" onSubmit={submit}>
        <TextField
          id="registry-source"
          label="Registry URL (empty: the default)"
          autoComplete="off"
          value={sourceUrl}
          onValue={setSourceUrl}
        />
        <TextField
          id="registry-namespace"
          label="Namespace of this workspace’s servers (empty: the edge’s host reversed)"
          autoComplete="off"
          value={namespace}
          onValue={setNamespace}
        />
        <ActionOutcome action={save} title="Not saved" />
        <SubmitButton busy={save.busy} busyLabel="Saving…">
          Save registry settings
        </SubmitButton>
      </form>
    </>
  );
}
