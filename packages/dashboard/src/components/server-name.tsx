import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { useMay } from '../powers.tsx';
import { Link } from '../router.tsx';
import { useLoad } from '../ui.tsx';

/**
 * A link to the server `id`, named by its name (`GET /mcp_manager/{id}`) once read; its id while loading, for a
 * caller who may not read servers, or for a server deleted since.
 */
export function ServerLink({ client, id }: { client: ManagementClient; id: string }) {
  const mayRead = useMay('servers', 'read');
  const [server] = useLoad(
    async () => (mayRead ? (await unwrap(client.GET('/mcp_manager/{id}', { params: { path: { id } } }))).name : null),
    [client, id, mayRead],
  );
  const name = server.state === 'done' ? server.data : null;
  return <Link href={`/servers/${id}`}>{name ?? id}</Link>;
}
