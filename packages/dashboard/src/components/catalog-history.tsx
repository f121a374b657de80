import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { errorMessage, unwrap, type Schemas } from '../api.ts';
import { Show, useLoad, when } from '../ui.tsx';
import { ResourceTable, type Column } from './resource-table.tsx';

type Version = Schemas['CatalogVersionSummary'];
type Page = { data: Version[]; nextBefore: number | null };

function Changes({ v }: { v: Version }) {
  if (v.previousVersion === null) return <>First version: {v.tools.length} tool(s).</>;
  if (v.added.length === 0 && v.removed.length === 0) return <>No tool added or removed.</>;
  return (
    <ul className="changes">
      {v.added.map((t) => (
        <li key={`+${t}`}>
          <span className="pass">added</span> <code>{t}</code>
        </li>
      ))}
      {v.removed.map((t) => (
        <li key={`-${t}`}>
          <span className="fail">removed</span> <code>{t}</code>
        </li>
      ))}
    </ul>
  );
}

const columns: Column<Version>[] = [
  {
    header: 'Version',
    cell: (v) => (
      <>
        {v.version}
        {v.live && <strong> (live)</strong>}
      </>
    ),
  },
  { header: 'Created', cell: (v) => <time dateTime={v.createdAt}>{when(v.createdAt)}</time> },
  { header: 'Tools', cell: (v) => v.tools.length },
  { header: 'Changes', cell: (v) => <Changes v={v} /> },
];

/** Older pages of versions, appended by "Show older versions" (`clear` forgets them, on refresh). */
function useOlderVersions(client: ManagementClient, serverId: string) {
  const [older, setOlder] = useState<Page | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const more = (before: number) => {
    setBusy(true);
    setError(null);
    unwrap(
      client.GET('/mcp_manager/{id}/catalog_versions', {
        params: { path: { id: serverId }, query: { limit: 20, before } },
      }),
    ).then(
      (page) => {
        setOlder((prev) => ({ data: [...(prev?.data ?? []), ...page.data], nextBefore: page.nextBefore }));
        setBusy(false);
      },
      (err: unknown) => {
        setError(err);
        setBusy(false);
      },
    );
  };
  return { older, error, busy, more, clear: () => setOlder(null) };
}

/** A server's catalog versions, newest first, with the tools added and removed by each. */
export function CatalogHistory({ client, serverId }: { client: ManagementClient; serverId: string }) {
  const [first, reload] = useLoad(
    () =>
      unwrap(
        client.GET('/mcp_manager/{id}/catalog_versions', { params: { path: { id: serverId }, query: { limit: 20 } } }),
      ),
    [client, serverId],
  );
  const older = useOlderVersions(client, serverId);
  return (
    <section aria-labelledby="history-heading">
      <h2 id="history-heading">Catalog versions</h2>
      <button
        type="button"
        className="secondary"
        onClick={() => {
          older.clear();
          reload();
        }}
      >
        Refresh versions
      </button>
      <Show loaded={first} what="the catalog versions">
        {(page) => {
          const next = older.older ? older.older.nextBefore : page.nextBefore;
          return (
            <>
              <ResourceTable
                rows={[...page.data, ...(older.older?.data ?? [])]}
                columns={columns}
                rowKey={(v) => String(v.version)}
                rowData={(v) => ({ version: v.version })}
                label="Catalog versions"
                empty="No catalog version yet."
              />
              {next !== null && (
                <button type="button" className="secondary" disabled={older.busy} onClick={() => older.more(next)}>
                  {older.busy ? 'Loading older versions…' : 'Show older versions'}
                </button>
              )}
              {older.error !== null && (
                <p className="error" role="alert">
                  Could not load older versions: {errorMessage(older.error)}
                </p>
              )}
            </>
          );
        }}
      </Show>
    </section>
  );
}
