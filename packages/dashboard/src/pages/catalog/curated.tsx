import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { Link } from '../../router.tsx';
import { ResourceTable, type Column } from '../../components/resource-table.tsx';
import { authLabels, CuratedSetupForm, CuratedUpgrade } from '../../components/curated-setup.tsx';
import { ActionButton, useLoad } from '../../ui.tsx';

export type Added = { api: Schemas['ApiCatalogEntry']; connector: Schemas['Connector'] };

type Curated = Schemas['CuratedConnector'];

/**
 * Added already (a link to the connector), else not yet; the button opening its one-step setup; and a newer version
 * when this Toolplane ships one (previewed before anything changes).
 */
function SetupCell({ entry, onSetup, onUpgrade }: { entry: Curated; onSetup: () => void; onUpgrade: () => void }) {
  return (
    <>
      {entry.connectorId !== null && <Link href={`/connectors/${entry.connectorId}`}>Added</Link>}{' '}
      <ActionButton onClick={onSetup} aria-label={`Set up ${entry.name}`}>
        Set up
      </ActionButton>
      {entry.update && (
        <ActionButton
          className="secondary"
          onClick={onUpgrade}
          aria-label={`Update to ${entry.update.to} (${entry.name})`}
        >
          Update to {entry.update.to}
        </ActionButton>
      )}
    </>
  );
}

type Open = { kind: 'setup' | 'upgrade'; entry: Curated };

function curatedColumns(open: (o: Open) => void): Column<Curated>[] {
  return [
    {
      header: 'Connector',
      rowHeader: true,
      cell: (c) => (
        <>
          <strong>{c.name}</strong> <code>{c.slug}</code> {c.version}
          <div className="hint">{c.description}</div>
        </>
      ),
    },
    {
      header: 'Tools',
      cell: (c) =>
        c.tools.map((t, i) => [
          i > 0 ? ', ' : '',
          <code key={t.name} title={t.description}>
            {t.name}
          </code>,
        ]),
    },
    { header: 'Authentication', cell: (c) => c.auth.map((a) => authLabels[a]).join(', ') },
    {
      header: 'Status',
      cell: (c) => (
        <SetupCell
          entry={c}
          onSetup={() => open({ kind: 'setup', entry: c })}
          onUpgrade={() => open({ kind: 'upgrade', entry: c })}
        />
      ),
    },
  ];
}

/**
 * The connectors shipped with Toolplane (served by the control plane, so offline too), each set up in one step: the
 * tools, the OAuth app or token, then the connector, its instance and its MCP server together.
 */
export function CuratedConnectors({ client }: { client: ManagementClient }) {
  const [list, reload] = useLoad(() => unwrap(client.GET('/connectors/curated')).then((r) => r.data), [client]);
  const [opened, setOpened] = useState<Open | null>(null);
  return (
    <section aria-labelledby="curated-heading">
      <h2 id="curated-heading">Curated connectors</h2>
      <p>
        Connectors shipped with Toolplane: a few tools each, written for a model. Setting one up takes one step: choose
        its tools, give the OAuth app or the token, and its MCP server is ready.
      </p>
      <ResourceTable
        loaded={list}
        what="the curated connectors"
        columns={curatedColumns(setOpened)}
        rowKey={(c) => c.slug}
        caption="Curated connectors"
        rowData={(c) => ({ slug: c.slug })}
      />
      {opened?.kind === 'setup' && (
        <CuratedSetupForm key={opened.entry.slug} client={client} entry={opened.entry} onDone={reload} />
      )}
      {opened?.kind === 'upgrade' && (
        <CuratedUpgrade key={opened.entry.slug} client={client} entry={opened.entry} onDone={reload} />
      )}
    </section>
  );
}
