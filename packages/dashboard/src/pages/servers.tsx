import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { ManagedMarker, useManaged } from '../components/workspace-files.tsx';
import { Writable } from '../powers.tsx';
import { Link } from '../router.tsx';
import { useLoad } from '../ui.tsx';

const columns = (managed: Set<string>): Column<Schemas['McpServerSummary']>[] => [
  { header: 'Name', cell: (s) => <Link href={`/servers/${s.id}`}>{s.name}</Link> },
  { header: 'Mode', cell: (s) => s.mode },
  { header: 'Selected tools', cell: (s) => (s.selectedTools.length > 0 ? s.selectedTools.length : 'all') },
  { header: 'Access', cell: (s) => (s.isPublic ? 'public' : 'private') },
  { header: 'Description', cell: (s) => s.description ?? '' },
  { header: 'Managed by', cell: (s) => <ManagedMarker managed={managed.has(`server/${s.name}`)} /> },
];

export function ServersPage({ client }: { client: ManagementClient }) {
  const [servers] = useLoad(
    () => unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })).then((r) => r.data),
    [client],
  );
  const managed = useManaged(client);
  return (
    <>
      <div className="heading">
        <h1>MCP servers</h1>
        <Writable>
          <Link className="button" href="/servers/new">
            Create a server
          </Link>
        </Writable>
      </div>
      <ResourceTable
        loaded={servers}
        what="the servers"
        caption="MCP servers of the workspace"
        columns={columns(managed)}
        empty={
          <>
            No MCP server yet.{' '}
            <Writable>
              <Link href="/servers/new">Create one</Link>, or add a connector instance whose descriptor enables MCP.
            </Writable>
          </>
        }
      />
    </>
  );
}
