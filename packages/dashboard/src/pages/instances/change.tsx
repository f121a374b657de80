import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { useAction } from '../../components/action.ts';
import { CredentialInputs, typedValues, useCredentialFields } from '../../components/credential-inputs.tsx';
import { ActionError, SubmitButton, Success, TextField } from '../../components/form.tsx';
import { Link } from '../../router.tsx';
import { ConfirmButton } from '../../ui.tsx';

export type Instance = Schemas['ConnectorInstance'];

export type Server = Schemas['McpServerSummary'];

/** What deleting an instance takes away, and the confirmation. */
function DeleteInstance({
  client,
  instance,
  servers,
  onDeleted,
}: {
  client: ManagementClient;
  instance: Instance;
  servers: Server[];
  onDeleted: () => void;
}) {
  const removal = useAction();
  const remove = () =>
    removal.run(() => unwrap(client.DELETE('/connector_instances/{id}', { params: { path: { id: instance.id } } })), {
      then: onDeleted,
    });
  // The server generated for it goes with it; other servers built on it stay, without its tools.
  const bound = servers.filter((s) => s.connectorInstanceId === instance.id && s.id !== instance.mcp_server_id);
  return (
    <div className="danger-zone">
      <h3>Delete {instance.name}</h3>
      <ul aria-label={`What deleting ${instance.name} takes away`}>
        <li>Its credentials are deleted, and external users’ own credentials for it.</li>
        {instance.mcp_server_id && (
          <li>
            Its MCP server <Link href={`/servers/${instance.mcp_server_id}`}>{instance.mcp_server_name}</Link>{' '}
            (generated for it from the connector’s mcp_config) is deleted with it.
          </li>
        )}
        {bound.length === 0 ? (
          <li>No other server is built on it.</li>
        ) : (
          <li>
            The other servers built on it keep existing without its tools (with a warning):{' '}
            {bound.map((s, n) => (
              <span key={s.id}>
                {n > 0 && ', '}
                <Link href={`/servers/${s.id}`}>{s.name}</Link>
              </span>
            ))}
            .
          </li>
        )}
        <li>SMART servers no longer find its tools; servers that chose its tools by name lose them.</li>
      </ul>
      <ActionError action={removal} title="Not deleted" />
      <ConfirmButton
        label="Delete instance"
        name={instance.name}
        question={`Delete ${instance.name} and its credentials?`}
        confirmLabel={`Delete ${instance.name}`}
        busy={removal.busy}
        onConfirm={remove}
      />
    </div>
  );
}

/**
 * Changing one instance: its name, its base URL, and any of its credentials (rotation: a value typed replaces the
 * stored one, an empty field keeps it; values are never shown).
 */
function ChangeForm({
  client,
  instance,
  onChanged,
  onClose,
}: {
  client: ManagementClient;
  instance: Instance;
  onChanged: () => void;
  onClose: () => void;
}) {
  const [name, setName] = useState(instance.name);
  const [baseUrl, setBaseUrl] = useState(instance.base_url ?? '');
  const [credentials, setCredentials] = useState<Record<string, string>>({});
  const fields = useCredentialFields(client, instance.connector_id);
  const save = useAction();
  const rotated = Object.keys(typedValues(credentials));
  const body: Schemas['UpdateConnectorInstanceBody'] = {
    ...(name.trim() !== instance.name ? { name: name.trim() } : {}),
    ...(baseUrl.trim() !== (instance.base_url ?? '') ? { base_url: baseUrl.trim() || null } : {}),
    ...(rotated.length > 0 ? { credentials: typedValues(credentials) } : {}),
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.run(() => unwrap(client.PATCH('/connector_instances/{id}', { params: { path: { id: instance.id } }, body })), {
      then: (changed) => {
        setCredentials({});
        onChanged();
        return `Saved ${changed.name}` + (rotated.length > 0 ? `: ${rotated.join(', ')} replaced.` : '.');
      },
    });
  };
  const id = `change-${instance.id}`;
  return (
    <>
      <form className="form" onSubmit={submit}>
        <TextField id={`${id}-name`} label="Name" required maxLength={100} value={name} onValue={setName} />
        <TextField
          id={`${id}-base-url`}
          label="Base URL (empty: the descriptor’s endpoints)"
          type="url"
          value={baseUrl}
          onValue={setBaseUrl}
        />
        <fieldset>
          <legend>Rotate credentials (write-only: the stored values are never shown)</legend>
          <CredentialInputs
            idPrefix={`${id}-cred`}
            fields={fields}
            values={credentials}
            onChange={setCredentials}
            stored={instance.credential_keys}
          />
        </fieldset>
        <ActionError action={save} title="Not saved" />
        <div className="buttons">
          <SubmitButton busy={save.busy} disabled={Object.keys(body).length === 0 || !name.trim()} busyLabel="Saving…">
            Save changes
          </SubmitButton>
          <button type="button" className="secondary" onClick={onClose}>
            Close
          </button>
        </div>
      </form>
      <Success>{save.done}</Success>
    </>
  );
}

/** Changing one instance, then deleting it, with what it takes away. */
export function ChangeInstance(props: {
  client: ManagementClient;
  instance: Instance;
  servers: Server[];
  onChanged: () => void;
  onDeleted: () => void;
  onClose: () => void;
}) {
  const { instance } = props;
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [instance.id]);
  const id = `change-${instance.id}`;
  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`} ref={heading} tabIndex={-1}>
        Change {instance.name}
      </h2>
      <ChangeForm client={props.client} instance={instance} onChanged={props.onChanged} onClose={props.onClose} />
      <DeleteInstance client={props.client} instance={instance} servers={props.servers} onDeleted={props.onDeleted} />
    </section>
  );
}
