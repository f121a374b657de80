import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { Writable } from '../powers.tsx';
import { SourceSettings } from './registry/source.tsx';
import { Search } from './registry/search.tsx';
import { ServedRegistry } from './registry/served.tsx';

/**
 * The MCP Registry both ways: the source this workspace searches and adds external MCP servers from (one step:
 * its remote and the headers it declares), and the registry this workspace serves of its own servers.
 */
export function RegistryPage({ client }: { client: ManagementClient }) {
  const [refresh, setRefresh] = useState(0);
  return (
    <>
      <h1>MCP Registry</h1>
      <p className="hint">
        Add external MCP servers from the MCP Registry in one step, and serve this workspace’s MCP servers as a registry
        of its own. Header values go to the secrets store and are never shown again.
      </p>
      <Writable>
        <SourceSettings client={client} onSaved={() => setRefresh((n) => n + 1)} />
      </Writable>
      <Search client={client} />
      <ServedRegistry client={client} refresh={refresh} />
    </>
  );
}
