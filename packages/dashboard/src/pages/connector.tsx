import type { ManagementClient } from '@toolplane/client';
import { ApiError, errorMessage, instancesAndServers, unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { Show, useLoad, when } from '../ui.tsx';
import { Writable } from '../powers.tsx';
import { Facts } from '../components/facts.tsx';
import { NewVersion, type Connector } from './connector/new-version.tsx';
import { DeleteConnector } from './connector/delete.tsx';
import { Crumbs } from '../components/section.tsx';

function ConnectorFacts({ connector, instances }: { connector: Connector; instances: Schemas['ConnectorInstance'][] }) {
  return (
    <Facts
      facts={[
        ['Slug', <code>{connector.slug}</code>],
        ['Kind', connector.kind === 'openapi' ? 'OpenAPI document' : 'descriptor'],
        ['Registered', when(connector.createdAt)],
        ['Tools', connector.tools.join(', ') || 'none (MCP not enabled)'],
        [
          'Instances',
          instances.length === 0 ? 'none' : <Link href="/instances">{instances.map((i) => i.name).join(', ')}</Link>,
        ],
      ]}
    />
  );
}

/** `/connectors/{id}`: a connector, its instances and the servers on them; a new version; deletion. */
export function ConnectorPage({ client, id }: { client: ManagementClient; id: string }) {
  const [loaded, reload] = useLoad(async () => {
    const [connector, { instances, servers }] = await Promise.all([
      unwrap(client.GET('/connectors/{id}', { params: { path: { id } } })),
      instancesAndServers(client),
    ]);
    return { connector, instances: instances.filter((i) => i.connector_id === connector.id), servers };
  }, [client, id]);
  return (
    <>
      <Crumbs up="/connectors" label="Connectors">
        {loaded.state === 'done' ? loaded.data.connector.name : id}
      </Crumbs>
      <Show loaded={loaded} what="the connector">
        {({ connector, instances, servers }) => (
          <>
            <h1>
              {connector.name} {connector.version}
            </h1>
            <ConnectorFacts connector={connector} instances={instances} />
            <Writable>
              <NewVersion client={client} connector={connector} onSaved={reload} />
              <DeleteConnector client={client} connector={connector} instances={instances} servers={servers} />
            </Writable>
          </>
        )}
      </Show>
      {loaded.state === 'error' && loaded.error instanceof ApiError && loaded.error.status === 404 && (
        <p>
          {errorMessage(loaded.error)}: <Link href="/connectors">back to the connectors</Link>.
        </p>
      )}
    </>
  );
}
