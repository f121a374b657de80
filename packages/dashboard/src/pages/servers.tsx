import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { Link } from '../router.tsx';
import { Empty, Show, useLoad } from '../ui.tsx';

export function ServersPage({ client }: { client: ManagementClient }) {
  const [servers] = useLoad(() => unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })), [client]);
  return (
    <>
      <div className="heading">
        <h1>MCP servers</h1>
        <Link className="button" href="/servers/new">
          Create a server
        </Link>
      </div>
      <Show loaded={servers} what="the servers">
        {(list) =>
          list.data.length === 0 ? (
            <Empty>
              No MCP server yet. <Link href="/servers/new">Create one</Link>, or add a connector instance whose
              descriptor enables MCP.
            </Empty>
          ) : (
            <table>
              <caption className="visually-hidden">MCP servers of the workspace</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Mode</th>
                  <th scope="col">Selected tools</th>
                  <th scope="col">Access</th>
                  <th scope="col">Description</th>
                </tr>
              </thead>
              <tbody>
                {list.data.map((s) => (
                  <tr key={s.id}>
                    <td>
                      <Link href={`/servers/${s.id}`}>{s.name}</Link>
                    </td>
                    <td>{s.mode}</td>
                    <td>{s.selectedTools.length > 0 ? s.selectedTools.length : 'all'}</td>
                    <td>{s.isPublic ? 'public' : 'private'}</td>
                    <td>{s.description ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
    </>
  );
}
