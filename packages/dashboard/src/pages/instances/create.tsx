import { useState, type FormEvent } from 'react';
import { unwrap, type Schemas } from '../../api.ts';
import { useAction } from '../../components/action.ts';
import { CredentialInputs, typedValues, useCredentialFields } from '../../components/credential-inputs.tsx';
import { SelectField, Success, TextField, FormEnd } from '../../components/form.tsx';
import { Link } from '../../router.tsx';
import { FormSection } from '../../components/section.tsx';
import type { CreateFormProps } from '../../components/list-page.tsx';

/** The created instance, and the MCP server generated for it (the descriptor's `mcp_config`). */
function Created({ created }: { created: Schemas['CreatedConnectorInstance'] }) {
  return (
    <Success>
      Created <strong>{created.name}</strong>
      {created.mcp_server_id && (
        <>
          {' '}
          and its MCP server <Link href={`/servers/${created.mcp_server_id}`}>{created.mcp_server_name}</Link>
        </>
      )}
      .
    </Success>
  );
}

export function CreateInstance({
  client,
  connectors,
  onCreated,
}: CreateFormProps & { connectors: Schemas['Connector'][] }) {
  const [connectorId, setConnectorId] = useState(connectors[0]?.id ?? '');
  const [name, setName] = useState('');
  const [baseUrl, setBaseUrl] = useState('');
  const [credentials, setCredentials] = useState<Record<string, string>>({});
  const fields = useCredentialFields(client, connectorId);
  const create = useAction();
  const [created, setCreated] = useState<Schemas['CreatedConnectorInstance'] | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setCreated(null);
    const body: Schemas['CreateConnectorInstanceBody'] = {
      connector_id: connectorId,
      name: name.trim(),
      credentials: typedValues(credentials),
      ...(baseUrl.trim() ? { base_url: baseUrl.trim() } : {}),
    };
    create.run(() => unwrap(client.POST('/connector_instances', { body })), {
      then: (instance) => {
        setCreated(instance);
        setName('');
        setCredentials({});
        onCreated();
      },
    });
  };
  const chooseConnector = (id: string) => {
    setConnectorId(id);
    setCredentials({});
  };
  return (
    <FormSection
      id="create-instance"
      title="Create a connector instance"
      onSubmit={submit}
      after={created && <Created created={created} />}
    >
      <SelectField
        id="instance-connector"
        label="Connector"
        value={connectorId}
        onValue={chooseConnector}
        options={connectors.map((c) => ({ value: c.id, label: `${c.name} ${c.version}` }))}
      />
      <TextField id="instance-name" label="Name" required maxLength={100} value={name} onValue={setName} />
      <TextField
        id="instance-base-url"
        label="Base URL (replaces the origin of every endpoint; optional)"
        type="url"
        placeholder="https://api.example.com"
        value={baseUrl}
        onValue={setBaseUrl}
      />
      <fieldset>
        <legend>Credentials (write-only: never shown again)</legend>
        <CredentialInputs idPrefix="cred" fields={fields} values={credentials} onChange={setCredentials} />
      </fieldset>
      <FormEnd action={create} failed="Not created" disabled={!name.trim() || !connectorId} busyLabel="Creating…">
        Create instance
      </FormEnd>
    </FormSection>
  );
}
