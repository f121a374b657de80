import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { errorMessage, unwrap, type Schemas } from '../api.ts';
import { Empty, Show, useLoad, when } from '../ui.tsx';

type Version = Schemas['CatalogVersionSummary'];

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

/** A server's catalog versions, newest first, with the tools added and removed by each. */
export function CatalogHistory({ client, serverId }: { client: ManagementClient; serverId: string }) {
  const [first, reload] = useLoad(
    () =>
      unwrap(
        client.GET('/mcp_manager/{id}/catalog_versions', { params: { path: { id: serverId }, query: { limit: 20 } } }),
      ),
    [client, serverId],
  );
  // Older pages, appended by "Show older versions" (cleared on refresh).
  const [older, setOlder] = useState<{ data: Version[]; nextBefore: number | null } | null>(null);
  const [moreError, setMoreError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const more = (before: number) => {
    setBusy(true);
    setMoreError(null);
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
        setMoreError(err);
        setBusy(false);
      },
    );
  };
  return (
    <section aria-labelledby="history-heading">
      <h2 id="history-heading">Catalog versions</h2>
      <button
        type="button"
        className="secondary"
        onClick={() => {
          setOlder(null);
          reload();
        }}
      >
        Refresh versions
      </button>
      <Show loaded={first} what="the catalog versions">
        {(page) => {
          const rows = [...page.data, ...(older?.data ?? [])];
          const next = older ? older.nextBefore : page.nextBefore;
          return rows.length === 0 ? (
            <Empty>No catalog version yet.</Empty>
          ) : (
            <>
              <table aria-label="Catalog versions">
                <thead>
                  <tr>
                    <th scope="col">Version</th>
                    <th scope="col">Created</th>
                    <th scope="col">Tools</th>
                    <th scope="col">Changes</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((v) => (
                    <tr key={v.version} data-version={v.version}>
                      <td>
                        {v.version}
                        {v.live && <strong> (live)</strong>}
                      </td>
                      <td>
                        <time dateTime={v.createdAt}>{when(v.createdAt)}</time>
                      </td>
                      <td>{v.tools.length}</td>
                      <td>
                        <Changes v={v} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {next !== null && (
                <button type="button" className="secondary" disabled={busy} onClick={() => more(next)}>
                  {busy ? 'Loading older versions…' : 'Show older versions'}
                </button>
              )}
              {moreError !== null && (
                <p className="error" role="alert">
                  Could not load older versions: {errorMessage(moreError)}
                </p>
              )}
            </>
          );
        }}
      </Show>
    </section>
  );
}
