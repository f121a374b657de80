import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { Success } from '../components/form.tsx';
import { Link } from '../router.tsx';
import { Empty, Show, useLoad } from '../ui.tsx';
import { Writable } from '../powers.tsx';
import { Section } from '../components/section.tsx';
import { CreateInstance } from './instances/create.tsx';
import { ChangeInstance } from './instances/change.tsx';
import { InstancesTable } from './instances/table.tsx';

export function InstancesPage({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useLoad(async () => {
    const [instances, connectors, servers] = await Promise.all([
      unwrap(client.GET('/connector_instances')),
      unwrap(client.GET('/connectors')),
      unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })),
    ]);
    return { instances: instances.data, connectors: connectors.data, servers: servers.data };
  }, [client]);
  const [changing, setChanging] = useState<string | null>(null);
  const [deleted, setDeleted] = useState<string | null>(null);
  const change = (id: string) => {
    setDeleted(null);
    setChanging(id);
  };
  return (
    <>
      <h1>Connector instances</h1>
      <Show loaded={loaded} what="the connector instances">
        {({ instances, connectors, servers }) => {
          const instance = instances.find((i) => i.id === changing);
          return (
            <>
              <Writable>
                {connectors.length === 0 ? (
                  <Empty>
                    Upload a <Link href="/connectors">connector</Link> first.
                  </Empty>
                ) : (
                  <CreateInstance client={client} connectors={connectors} onCreated={reload} />
                )}
              </Writable>
              <Section id="instances" title="Instances">
                <Success>{deleted && `Deleted ${deleted}.`}</Success>
                <InstancesTable
                  client={client}
                  instances={instances}
                  connectors={connectors}
                  servers={servers}
                  changing={changing}
                  onChange={change}
                />
              </Section>
              {instance && (
                <ChangeInstance
                  key={instance.id}
                  client={client}
                  instance={instance}
                  servers={servers}
                  onChanged={reload}
                  onDeleted={() => {
                    setChanging(null);
                    setDeleted(instance.name);
                    reload();
                  }}
                  onClose={() => setChanging(null)}
                />
              )}
            </>
          );
        }}
      </Show>
    </>
  );
}
