import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { Link, navigate } from '../router.tsx';
import { useLoad } from '../ui.tsx';
import { SelectField } from '../components/form.tsx';
import { TrafficPanel, windowLabels, WindowSelect, type TrafficWindow } from '../components/traffic.tsx';
import { ExportButton } from '../components/workspace-files.tsx';
import { useMay } from '../powers.tsx';

/** `window` from the address: `1h` unless `24h`. */
function trafficWindow(query: URLSearchParams): TrafficWindow {
  return query.get('window') === '24h' ? '24h' : '1h';
}

/**
 * The first page after sign-in: the workspace's traffic (or one server's) over the last hour or day, drawn from the
 * control plane's rollup (`GET /stats`), with the busiest tools and the tools with the most errors. The address holds
 * the choices (`?window=24h&server_id=…`, and `to` for a fixed window), so a view can be shared.
 */
export function OverviewPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const window = trafficWindow(query);
  const serverId = query.get('server_id') ?? '';
  const to = query.get('to') ?? undefined;
  // The servers to choose from, for those who may list them (an auditor reads the traffic, not the servers).
  const mayList = useMay('servers', 'read');
  const [servers] = useLoad(
    async () => (mayList ? (await unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } }))).data : []),
    [client, mayList],
  );
  const list = servers.state === 'done' ? servers.data : [];
  const serverName = (id: string) => list.find((s) => s.id === id)?.name ?? id;
  const choose = (key: string, value: string) => {
    const next = new URLSearchParams(query);
    if (value) next.set(key, value);
    else next.delete(key);
    const qs = next.toString();
    navigate(`/${qs ? `?${qs}` : ''}`);
  };
  const what = serverId ? serverName(serverId) : 'the workspace';
  return (
    <>
      <div className="heading">
        <h1>Overview</h1>
        <ExportButton client={client} />
      </div>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <WindowSelect id="overview-window" value={window} onChange={(w) => choose('window', w)} />
        <SelectField
          inline
          id="overview-server"
          label="Server"
          value={serverId}
          onValue={(v) => choose('server_id', v)}
          options={[{ value: '', label: 'All servers' }, ...list.map((s) => ({ value: s.id, label: s.name }))]}
        />
      </form>
      {mayList && servers.state === 'done' && list.length === 0 && (
        <p className="notice">
          No MCP server yet: <Link href="/servers/new">create one</Link>, then its calls show here.
        </p>
      )}
      <h2>
        {windowLabels[window]}: {what}
      </h2>
      <TrafficPanel
        client={client}
        window={window}
        serverId={serverId || undefined}
        to={to}
        what={what}
        serverName={serverName}
      />
    </>
  );
}
