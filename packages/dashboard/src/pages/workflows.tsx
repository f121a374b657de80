import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { AddressSelect } from '../components/filters.tsx';
import { Link } from '../router.tsx';
import { Empty, Show, useLoad } from '../ui.tsx';
import { Writable } from '../powers.tsx';
import { Editor } from './workflows/editor.tsx';
import { History } from './workflows/history.tsx';

/** The NORMAL servers to deploy to, one chosen in the address (`?server=<id>`). */
function ServerChoice({ client, server }: { client: ManagementClient; server: string }) {
  const [servers] = useLoad(() => unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })), [client]);
  return (
    <Show loaded={servers} what="the servers">
      {(list) => {
        const normal = list.data.filter((s) => s.mode === 'NORMAL');
        if (normal.length === 0)
          return (
            <Empty>
              No NORMAL server: <Link href="/servers/new">create one</Link> (it may have no tools).
            </Empty>
          );
        return (
          <AddressSelect
            id="workflow-server"
            label="Server"
            path="/workflows"
            param="server"
            value={server}
            options={[{ value: '', label: 'Choose a server' }, ...normal.map((s) => ({ value: s.id, label: s.name }))]}
          />
        );
      }}
    </Show>
  );
}

export function WorkflowsPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const server = query.get('server') ?? '';
  const [tick, setTick] = useState(0);
  return (
    <>
      <h1>Workflows</h1>
      <p>Deploy a Flower or Arazzo document as the tools of a NORMAL server.</p>
      <ServerChoice client={client} server={server} />
      {server && (
        <>
          <Writable>
            <Editor key={server} client={client} server={server} onDeployed={() => setTick((t) => t + 1)} />
          </Writable>
          <History client={client} server={server} tick={tick} onChanged={() => setTick((t) => t + 1)} />
        </>
      )}
    </>
  );
}
