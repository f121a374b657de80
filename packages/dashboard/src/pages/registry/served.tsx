import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { ResourceTable, type Column } from '../../components/resource-table.tsx';
import { CopyBlock, Show, useLoad } from '../../ui.tsx';
import { Section } from '../../components/section.tsx';
import { HeaderList } from './search.tsx';

type Served = Schemas['RegistryServerResponse'];

const servedColumns: Column<Served>[] = [
  { header: 'Name', rowHeader: true, cell: (s) => <code>{s.server.name}</code> },
  { header: 'Version', cell: (s) => s.server.version },
  {
    header: 'Remote',
    cell: (s) =>
      s.server.remotes.map((r) => (
        <code key={r.url}>
          {r.url} ({r.type})
        </code>
      )),
  },
  {
    header: 'Headers',
    cell: (s) => (
      <HeaderList headers={s.server.remotes.flatMap((r) => r.headers)} label={`Headers of ${s.server.name}`} />
    ),
  },
  { header: 'Description', cell: (s) => s.server.description },
];

/**
 * The workspace's own servers as a registry (the registry API's read side): its URL, to copy into a client or an
 * internal catalog, and what it lists, read with this session's credentials.
 */
export function ServedRegistry({ client, refresh }: { client: ManagementClient; refresh: number }) {
  const [loaded] = useLoad(
    () => unwrap(client.GET('/registry/v0.1/servers', { params: { query: { limit: 100 } } })),
    [client],
    refresh,
  );
  const url = `${window.location.origin}/api/v1/registry/v0.1/servers`;
  return (
    <Section id="registry-served" title="This workspace as a registry">
      <p className="hint">
        Clients and catalogs that read the MCP Registry API (v0.1) find this workspace’s MCP servers here. It answers
        any key or token of the management API; a key limited to servers lists those only.
      </p>
      <CopyBlock label="Registry URL" text={url} />
      <Show loaded={loaded} what="the servers this workspace serves">
        {(list) => (
          <>
            <ResourceTable
              rows={list.servers}
              columns={servedColumns}
              rowKey={(s) => s.server.name}
              caption="Servers this workspace’s registry lists"
              empty="This workspace has no MCP server yet."
            />
            {list.metadata.nextCursor && <p className="hint">The first 100 are shown.</p>}
          </>
        )}
      </Show>
    </Section>
  );
}
