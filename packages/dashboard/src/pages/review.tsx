import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { heldChangesDecided } from '../review-count.ts';
import { Link } from '../router.tsx';
import { useAction } from '../components/action.ts';
import { DefinitionDiff, ServerToolChangeList } from '../components/definition-diff.tsx';
import { useUpgradePreview } from '../components/curated-setup.tsx';
import { ActionError, Success } from '../components/form.tsx';
import { Empty, Show, useLoad } from '../ui.tsx';
import { InArea, useMayChange } from '../powers.tsx';
import { Section } from '../components/section.tsx';
import { DecisionButtons } from '../components/decision-buttons.tsx';

type Registered = Schemas['ExternalMcpServer'];
type Change = Schemas['ExternalMcpServerChange'];
type Curated = Schemas['CuratedConnector'];

/** The registered servers holding changes (only `only`, by name or id, when given), each with its held changes. */
async function heldChanges(client: ManagementClient, only: string | null) {
  const servers = (await unwrap(client.GET('/external_mcp_servers'))).data.filter(
    (s) => s.heldChanges > 0 && (only === null || s.name === only || s.id === only),
  );
  return Promise.all(
    servers.map(async (server) => {
      const path = { id: server.id };
      const changes = (await unwrap(client.GET('/external_mcp_servers/{id}/changes', { params: { path } }))).data;
      return { server, changes };
    }),
  );
}

const outcomes = {
  accept: (c: Change, s: Registered) =>
    `Accepted: ${c.name} is served as listed on every server using ${s.name} (${s.usedBy.length}).`,
  reject: (c: Change) => `Rejected: ${c.name} stays as pinned; this definition is not held again.`,
};

/** One held change as a diff, accepted or rejected here; a refusal (a change no longer held: 404) shown with it. */
function HeldChange({ client, server, change }: { client: ManagementClient; server: Registered; change: Change }) {
  const action = useAction();
  const [decided, setDecided] = useState(false);
  const label = `the change of ${change.name} on ${server.name}`;
  const decide = (how: 'accept' | 'reject') =>
    action.run(
      () => {
        const init = { params: { path: { id: server.id, changeId: change.id } } };
        return unwrap(
          how === 'accept'
            ? client.POST('/external_mcp_servers/{id}/changes/{changeId}/accept', init)
            : client.POST('/external_mcp_servers/{id}/changes/{changeId}/reject', init),
        );
      },
      {
        then: () => {
          setDecided(true);
          heldChangesDecided();
          return outcomes[how](change, server);
        },
        failed: how === 'accept' ? 'Not accepted' : 'Not rejected',
      },
    );
  return (
    <DefinitionDiff item={change} id={`change-${change.id}`}>
      {!decided && (
        <div className="buttons">
          <DecisionButtons decisions={['accept', 'reject']} label={label} busy={action.busy} onDecide={decide} />
        </div>
      )}
      <ActionError action={action} title={action.failed} />
      <Success>{action.done}</Success>
    </DefinitionDiff>
  );
}

/** A registered server's held changes, oldest first, and what agents see of them meanwhile. */
function ServerChanges({
  client,
  server,
  changes,
}: {
  client: ManagementClient;
  server: Registered;
  changes: Change[];
}) {
  return (
    <section aria-labelledby={`held-${server.id}`} className="review-group">
      <h3 id={`held-${server.id}`}>{server.name}</h3>
      <p className="hint">
        <code>{server.url}</code>, used by {server.usedBy.map((u) => u.name).join(', ') || 'no server'}. Until a change
        is decided,{' '}
        {server.onChange === 'withhold' ? 'a changed item is withheld' : 'a changed item is served as pinned'} and a new
        one is not served. <Link href="/external-servers">External MCP servers</Link>
      </p>
      {changes.map((c) => (
        <HeldChange key={c.id} client={client} server={server} change={c} />
      ))}
    </section>
  );
}

/**
 * A curated connector's newer version: for those who may change connectors, what it does to each server's tools and
 * the upgrade; for the others (its dry run is a change they are refused) only that it exists.
 */
function ConnectorUpdate({ client, entry }: { client: ManagementClient; entry: Curated }) {
  const may = useMayChange();
  if (may) return <ConnectorUpgrade client={client} entry={entry} />;
  const update = entry.update!;
  return (
    <section aria-labelledby={`update-${entry.slug}`} className="review-group">
      <h3 id={`update-${entry.slug}`}>
        {entry.name} {update.from} → {update.to}
      </h3>
    </section>
  );
}

/** A curated connector's newer version: what it does to each server's tools (a dry run), applied on "Upgrade". */
function ConnectorUpgrade({ client, entry }: { client: ManagementClient; entry: Curated }) {
  const update = entry.update!;
  const [preview] = useUpgradePreview(client, entry.slug);
  const action = useAction();
  const upgrade = () =>
    action.run(
      () => unwrap(client.POST('/connectors/curated/{slug}/upgrade', { params: { path: { slug: entry.slug } } })),
      { then: () => `Upgraded ${entry.name} to ${update.to}.`, failed: `Could not upgrade ${entry.name}` },
    );
  const title = `${entry.name} ${update.from} → ${update.to}`;
  return (
    <section aria-labelledby={`update-${entry.slug}`} className="review-group">
      <h3 id={`update-${entry.slug}`}>{title}</h3>
      {action.done === null && (
        <Show loaded={preview} what="what the upgrade would change">
          {(p) => <ServerToolChangeList preview={p} id={`update-${entry.slug}`} />}
        </Show>
      )}
      <ActionError action={action} title={action.failed} />
      <Success>{action.done}</Success>
      {action.done === null && (
        <button
          type="button"
          onClick={upgrade}
          disabled={action.busy || preview.state !== 'done'}
          aria-label={`Upgrade ${entry.name} to ${update.to}`}
        >
          {action.busy ? 'Upgrading…' : 'Upgrade'}
        </button>
      )}
    </section>
  );
}

/**
 * Everything that would change what agents see and waits for a person: the changes external MCP servers made to
 * their tools, resources and prompts, held against their pinned definitions, and the curated connectors this
 * Toolplane ships newer versions of. Each as a diff, decided here.
 */
export function ReviewPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const only = query.get('server');
  const [held, reload] = useLoad(() => heldChanges(client, only), [client, only]);
  const [curated] = useLoad(
    () => unwrap(client.GET('/connectors/curated')).then((r) => r.data.filter((c) => c.update !== null)),
    [client],
  );
  return (
    <>
      <h1>Review</h1>
      <p className="hint">
        Changes that wait for a decision before agents see them. Accepting a held change publishes it to every server
        using that external server; rejecting it keeps the pinned definition. Each decision is in the audit trail.
      </p>
      <Section id="held" title={<>Held changes of external MCP servers{only !== null && <> ({only})</>}</>}>
        <button type="button" className="secondary" onClick={reload}>
          Refresh
        </button>
        {only !== null && (
          <p>
            <Link href="/review">Every server’s held changes</Link>
          </p>
        )}
        <Show loaded={held} what="the held changes">
          {(groups) =>
            groups.length === 0 ? (
              <Empty>No change is held for review.</Empty>
            ) : (
              groups.map((g) => (
                <ServerChanges key={g.server.id} client={client} server={g.server} changes={g.changes} />
              ))
            )
          }
        </Show>
      </Section>
      <InArea area="connectors">
        <Section id="updates" title="Connector updates">
          <Show loaded={curated} what="the curated connectors">
            {(list) =>
              list.length === 0 ? (
                <Empty>Every curated connector of the workspace is at the version this Toolplane ships.</Empty>
              ) : (
                list.map((entry) => <ConnectorUpdate key={entry.slug} client={client} entry={entry} />)
              )
            }
          </Show>
        </Section>
      </InArea>
    </>
  );
}
