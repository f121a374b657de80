import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { ResourceTable, type Column } from '../../components/resource-table.tsx';
import { Section } from '../../components/section.tsx';
import { useMay } from '../../powers.tsx';
import { useLoad, when } from '../../ui.tsx';

type Event = Schemas['AuditEvent'];

/** What a `token.narrowed` event's details say of the token (ADR 0084). */
interface Narrowed {
  token_id?: string;
  actors?: string[];
  tools?: string[];
  servers?: string[];
  calls?: number;
  expiresAt?: string;
}

const detailsOf = (e: Event) => (e.details ?? {}) as Narrowed;
const listed = (v: string[] | undefined, all: string) => (v && v.length > 0 ? v.join(', ') : all);

const columns: Column<Event>[] = [
  { header: 'Key', cell: (e) => e.actor.name ?? e.actor.id ?? '—' },
  { header: 'Actors', cell: (e) => listed(detailsOf(e).actors, '—').replaceAll(', ', ' → ') },
  { header: 'Tools', cell: (e) => listed(detailsOf(e).tools, 'as its parent') },
  { header: 'Servers', cell: (e) => listed(detailsOf(e).servers, 'as its parent') },
  { header: 'Calls', cell: (e) => detailsOf(e).calls ?? 'no limit' },
  { header: 'Made', cell: (e) => when(e.at) },
  { header: 'Expires', cell: (e) => when(detailsOf(e).expiresAt ?? null) },
];

/**
 * The narrowed tokens made lately from the workspace's keys (ADR 0084): each `token.narrowed` event of the audit trail
 * (no token is kept anywhere but the edges' store), with its chain of actors, tools, servers and expiry. Shown to those
 * who read the audit trail.
 */
export function NarrowedTokens({ client }: { client: ManagementClient }) {
  const mayRead = useMay('trail', 'read');
  const [events] = useLoad(
    () =>
      mayRead
        ? unwrap(client.GET('/audit_events', { params: { query: { action: 'token.narrowed', limit: 50 } } })).then(
            (r) => r.data,
          )
        : Promise.resolve([]),
    [client, mayRead],
  );
  if (!mayRead) return null;
  return (
    <Section id="narrowed-tokens" title="Narrowed tokens (latest 50)">
      <p className="hint">
        Tokens a key’s holder narrowed for a sub-agent (<code>POST /oauth/token-exchange</code> at an edge): each
        carries less than its key and ends with it. Revoking the key ends every token made from it.
      </p>
      <ResourceTable
        loaded={events}
        what="the narrowed tokens"
        columns={columns}
        caption="Narrowed tokens made from the workspace’s keys"
        empty="No narrowed token made lately."
      />
    </Section>
  );
}
