import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { navigate } from '../../router.tsx';
import { ConfirmButton, ErrorBox } from '../../ui.tsx';
import { type Connector } from './new-version.tsx';

/** What deleting the connector takes away: its instances, the servers generated for them, the others' tools. */
function DeleteConsequences({
  instances,
  servers,
}: {
  instances: Schemas['ConnectorInstance'][];
  servers: Schemas['McpServerSummary'][];
}) {
  // The servers generated for the instances (the descriptor's mcp_config) go with them; others stay, without tools.
  const generated = servers.filter((s) => instances.some((i) => i.mcp_server_id === s.id));
  const bound = servers.filter((s) => instances.some((i) => i.id === s.connectorInstanceId) && !generated.includes(s));
  const other = generated.length > 0 ? 'other ' : '';
  if (instances.length === 0) return <li>No connector instance uses it: only the connector goes.</li>;
  return (
    <>
      <li>
        Its {instances.length} connector instance(s) are deleted with it (<code>force=true</code>), with their
        credentials: {instances.map((i) => i.name).join(', ')}.
      </li>
      {generated.length > 0 && (
        <li>
          The MCP servers generated for them (the descriptor’s <code>mcp_config</code>) are deleted too, their URLs then
          answer 404: {generated.map((s) => s.name).join(', ')}.
        </li>
      )}
      <li>
        {bound.length === 0
          ? `No ${other}server is built on them.`
          : `The ${other}servers built on them keep existing without their tools (with a warning): ${bound
              .map((s) => s.name)
              .join(', ')}.`}
      </li>
      <li>SMART servers no longer find their tools; servers that chose them by name lose them.</li>
    </>
  );
}

/**
 * Deleting the connector, with its consequence spelled out: the instances using it go with it (`force=true`), their
 * credentials too, and the servers built on them lose their tools.
 */
export function DeleteConnector({
  client,
  connector,
  instances,
  servers,
}: {
  client: ManagementClient;
  connector: Connector;
  instances: Schemas['ConnectorInstance'][];
  servers: Schemas['McpServerSummary'][];
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const remove = () => {
    setBusy(true);
    setError(null);
    unwrap(
      client.DELETE('/connectors/{id}', {
        params: { path: { id: connector.id }, query: instances.length > 0 ? { force: 'true' } : {} },
      }),
    ).then(
      () => navigate('/connectors'),
      (err: unknown) => {
        setError(err);
        setBusy(false);
      },
    );
  };
  return (
    <section aria-labelledby="delete-title" className="danger-zone">
      <h2 id="delete-title">Delete this connector</h2>
      <ul aria-label="What deleting the connector takes away">
        <DeleteConsequences instances={instances} servers={servers} />
      </ul>
      {error !== null && <ErrorBox error={error} title="Not deleted" />}
      <ConfirmButton
        label="Delete connector"
        name={connector.name}
        question={
          instances.length > 0
            ? `Delete ${connector.name} and its ${instances.length} instance(s)?`
            : `Delete ${connector.name}?`
        }
        confirmLabel={`Delete ${connector.name}`}
        busy={busy}
        onConfirm={remove}
      />
    </section>
  );
}
