import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { storedKey, unwrap, type Schemas } from '../api.ts';
import { CatalogHistory } from '../components/catalog-history.tsx';
import { DebugSessions } from '../components/debug-sessions.tsx';
import { ResultShapes } from '../components/result-shapes.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { ServerTraffic } from '../components/traffic.tsx';
import { TryTool } from '../try-tool.tsx';
import { Readable, Writable } from '../powers.tsx';
import { Link } from '../router.tsx';
import { CopyBlock, CopyButton, Empty, Json, Show, useLoad } from '../ui.tsx';
import { Crumbs } from '../components/section.tsx';
import { WhoCanReach } from '../components/reachability.tsx';

type Server = Schemas['McpServer'];
type Config = Schemas['McpServerConfig'];

/** What to paste into MCP clients to use a server at `url` with `key`. */
function clientConfigs(name: string, url: string, key: string): { label: string; text: string }[] {
  const headers = { 'x-api-key': key };
  return [
    {
      label: 'Claude Desktop (claude_desktop_config.json)',
      text: JSON.stringify(
        {
          mcpServers: {
            [name]: { command: 'npx', args: ['-y', 'mcp-remote', url, '--header', `x-api-key:${key}`] },
          },
        },
        null,
        2,
      ),
    },
    {
      label: 'Cursor (.cursor/mcp.json)',
      text: JSON.stringify({ mcpServers: { [name]: { url, headers } } }, null, 2),
    },
    {
      label: 'VS Code (.vscode/mcp.json)',
      text: JSON.stringify({ servers: { [name]: { type: 'http', url, headers } } }, null, 2),
    },
    {
      label: 'MCP Inspector (command line)',
      // The edge speaks Streamable HTTP: without `--transport http` the inspector tries stdio and fails.
      text: `npx @modelcontextprotocol/inspector --cli ${url} --transport http --header "x-api-key: ${key}" --method tools/list`,
    },
  ];
}

function Facts({ server }: { server: Server }) {
  return (
    <dl className="facts">
      <dt>MCP URL</dt>
      <dd>
        <code data-testid="mcp-url">{server.url}</code> <CopyButton text={server.url} label="the MCP URL" />
      </dd>
      <dt>Mode</dt>
      <dd>{server.mode}</dd>
      <dt>Access</dt>
      <dd>{server.isPublic ? 'public' : 'private (x-api-key)'}</dd>
      <dt>Upstream credentials</dt>
      <dd>
        {server.perRequestAuth
          ? 'the caller’s X-Upstream-Authorization when sent, else the stored ones'
          : 'stored only (X-Upstream-Authorization refused)'}
      </dd>
      <dt>Code mode</dt>
      <dd>{server.mode === 'SMART' || server.codeMode ? 'run_code listed' : 'off'}</dd>
      <dt>Catalog version</dt>
      <dd>{server.catalogVersion}</dd>
      <dt>Records</dt>
      <dd>
        <Link href={`/records?server_id=${server.id}`}>Execution records of {server.name}</Link>
      </dd>
      <dt>Secrets</dt>
      <dd>
        <Link href={`/secrets?server=${server.id}`}>Secrets of {server.name}</Link>
      </dd>
    </dl>
  );
}

function Warnings({ warnings }: { warnings: string[] }) {
  if (warnings.length === 0) return null;
  return (
    <div className="warning" role="note">
      <strong>Warnings:</strong>
      <ul>
        {warnings.map((w) => (
          <li key={w}>{w}</li>
        ))}
      </ul>
    </div>
  );
}

/** The configurations of MCP clients, with the API key typed in. */
function ConnectClient({ server }: { server: Server }) {
  const [key, setKey] = useState('YOUR_API_KEY');
  return (
    <>
      <h2>Connect a client</h2>
      <label htmlFor="config-key">API key to put in the configurations</label>
      <input id="config-key" value={key} onChange={(e) => setKey(e.target.value)} autoComplete="off" />
      <p className="hint">Use a key limited to this server; the configurations below update as you type.</p>
      <div className="configs">
        {clientConfigs(server.name, server.url, key).map((c) => (
          <CopyBlock key={c.label} label={c.label} text={c.text} />
        ))}
      </div>
    </>
  );
}

function Tools({ client, server, config }: { client: ManagementClient; server: Server; config: Config }) {
  return (
    <>
      <h2>Tools ({config.tools.length})</h2>
      {config.tools.length === 0 ? (
        <Empty>No tools: choose a connector instance or deploy a workflow.</Empty>
      ) : (
        <ul className="tools">
          {config.tools.map((t) => (
            <li key={t.name}>
              <code>{t.name}</code>
              {t.description && <span className="desc"> — {t.description}</span>}
              {server.confirmTools.includes(t.name) && <span className="tag">asks a person first</span>}
              <details>
                <summary>Input schema of {t.name}</summary>
                <Json value={t.inputSchema} label={`Input schema of ${t.name}`} />
              </details>
              <WhoCanReach client={client} serverId={server.id} tool={t.name} />
            </li>
          ))}
        </ul>
      )}
      {config.tools.length > 0 && (
        <TryTool
          client={client}
          serverId={server.id}
          url={server.url}
          apiKey={storedKey() ?? ''}
          tools={config.tools}
        />
      )}
    </>
  );
}

type External = Server['externalMcpConfigs'][number] & { registered: boolean };

const externalColumns: Column<External>[] = [
  {
    header: 'Name',
    cell: (e) =>
      e.registered ? (
        <>
          <Link href="/external-servers">{e.name}</Link> (registered on the workspace)
        </>
      ) : (
        e.name
      ),
  },
  { header: 'URL', cell: (e) => <code>{e.url}</code> },
  { header: 'Tools taken', cell: (e) => (e.tools.length === 0 ? 'all' : e.tools.join(', ')) },
  {
    header: 'Headers sent',
    cell: (e) => (e.headerNames.length === 0 ? 'none' : `${e.headerNames.join(', ')} (values sealed)`),
  },
];

/** The external MCP servers whose tools the server takes: its own, and those registered on the workspace. */
function ExternalServers({ server }: { server: Server }) {
  const rows: External[] = [
    ...server.externalMcpConfigs.map((e) => ({ ...e, registered: false })),
    ...server.externalMcpServers.map((e) => ({ ...e, registered: true })),
  ];
  if (rows.length === 0) return null;
  return (
    <>
      <h2>External MCP servers ({rows.length})</h2>
      <ResourceTable rows={rows} columns={externalColumns} rowKey={(e) => e.name} label="External MCP servers" />
    </>
  );
}

export function ServerPage({ client, id }: { client: ManagementClient; id: string }) {
  const [loaded] = useLoad(async () => {
    const path = { params: { path: { id } } };
    const [server, config] = await Promise.all([
      unwrap(client.GET('/mcp_manager/{id}', path)),
      unwrap(client.GET('/mcp_manager/{id}/config', path)),
    ]);
    return { server, config };
  }, [client, id]);
  return (
    <>
      <Crumbs up="/servers" label="MCP servers">
        {loaded.state === 'done' ? loaded.data.server.name : id}
      </Crumbs>
      <Show loaded={loaded} what="the server">
        {({ server, config }) => (
          <>
            <div className="heading">
              <h1>{server.name}</h1>
              <Writable>
                <Link className="button" href={`/servers/${server.id}/edit`}>
                  Edit or delete
                </Link>
              </Writable>
            </div>
            {server.description && <p>{server.description}</p>}
            <Facts server={server} />
            <Warnings warnings={server.warnings ?? []} />
            <ConnectClient server={server} />
            <Tools client={client} server={server} config={config} />
            <ResultShapes client={client} server={server} />
            <ExternalServers server={server} />
            <ServerTraffic client={client} server={server} tools={config.tools.map((t) => t.name)} />
            <CatalogHistory client={client} serverId={server.id} />
            <Readable area="debug_sessions">
              <DebugSessions client={client} serverId={server.id} />
            </Readable>
          </>
        )}
      </Show>
    </>
  );
}
