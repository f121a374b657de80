import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../../api.ts';
import { Link } from '../../router.tsx';
import { useAction } from '../../components/action.ts';
import { ActionError, SubmitButton, TextField } from '../../components/form.tsx';
import { ResourceTable, type Column } from '../../components/resource-table.tsx';
import { useLoad } from '../../ui.tsx';
import { Section } from '../../components/section.tsx';
import { AddForm, AddOutcome, headerTraits, type Added, type DeclaredHeader, type Entry } from './add.tsx';

export function HeaderList({ headers, label }: { headers: readonly DeclaredHeader[]; label: string }) {
  if (headers.length === 0) return <>none</>;
  return (
    <ul aria-label={label}>
      {headers.map((h) => (
        <li key={h.name}>
          <code>{h.name}</code> ({headerTraits(h)}){h.description ? `: ${h.description}` : ''}
        </li>
      ))}
    </ul>
  );
}

/** The search results' columns; `addedAs` names the workspace's external MCP server by id. */
function resultColumns(addedAs: (id: string) => string): Column<Entry>[] {
  return [
    {
      header: 'Server',
      rowHeader: true,
      cell: (e) => (
        <>
          {e.title ?? e.name} <span className="tag">{e.version}</span>
          <br />
          <code>{e.name}</code>
        </>
      ),
    },
    { header: 'Description', cell: (e) => e.description },
    { header: 'Remote', cell: (e) => (e.remote ? <code>{e.remote.url}</code> : '—') },
    { header: 'Headers', cell: (e) => <HeaderList headers={e.remote?.headers ?? []} label={`Headers of ${e.name}`} /> },
    {
      header: 'Status',
      cell: (e) => {
        if (e.unsupported) return `Cannot be added: ${e.unsupported}`;
        if (e.externalServerId)
          return (
            <>
              Already added as <Link href="/external-servers">{addedAs(e.externalServerId)}</Link>
            </>
          );
        return 'Not added';
      },
    },
  ];
}

interface Results {
  q: string;
  entries: Entry[];
  nextCursor: string | null;
  source: string;
}

/** Search the source (a page at a time, "More results" for the next), and add a result in one step. */
export function Search({ client }: { client: ManagementClient }) {
  const [q, setQ] = useState('');
  const [results, setResults] = useState<Results | null>(null);
  const [adding, setAdding] = useState<string | null>(null);
  const [added, setAdded] = useState<Added | null>(null);
  const [externals, reloadExternals] = useLoad(
    () => unwrap(client.GET('/external_mcp_servers')).then((r) => r.data),
    [client],
  );
  const search = useAction();
  const load = (query: string, more: Results | null) =>
    search.run(
      () =>
        unwrap(
          client.GET('/registry/search', { params: { query: { q: query, cursor: more?.nextCursor ?? undefined } } }),
        ),
      {
        then: (page) =>
          setResults({
            q: query,
            entries: [...(more?.entries ?? []), ...page.data],
            nextCursor: page.nextCursor,
            source: page.source.url,
          }),
        failed: 'Search failed',
      },
    );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setAdding(null);
    load(q.trim(), null);
  };
  const addedNow = (result: Added) => {
    setAdding(null);
    setAdded(result);
    setResults(
      (r) =>
        r && {
          ...r,
          entries: r.entries.map((e) => (e.name === result.registry.name ? { ...e, externalServerId: result.id } : e)),
        },
    );
    reloadExternals();
  };
  const addedAs = (id: string) =>
    (externals.state === 'done' ? externals.data.find((s) => s.id === id)?.name : undefined) ?? id;
  const entry = results?.entries.find((e) => e.name === adding);
  return (
    <Section id="registry-search" title="Search and add">
      <form className="inline-form" role="search" onSubmit={submit}>
        <TextField id="registry-q" label="Search the registry" inline value={q} onValue={setQ} />
        <SubmitButton busy={search.busy} busyLabel="Searching…" changes={false}>
          Search
        </SubmitButton>
      </form>
      <ActionError action={search} title="Search failed" />
      {added && <AddOutcome result={added} />}
      {results && (
        <SearchResults
          results={results}
          columns={resultColumns(addedAs)}
          adding={adding}
          onAdd={(name) => {
            setAdded(null);
            setAdding(adding === name ? null : name);
          }}
          busy={search.busy}
          onMore={() => load(results.q, results)}
        />
      )}
      {entry && <AddForm key={entry.name} client={client} entry={entry} onAdded={addedNow} />}
    </Section>
  );
}

function SearchResults({
  results,
  columns,
  adding,
  onAdd,
  busy,
  onMore,
}: {
  results: Results;
  columns: Column<Entry>[];
  adding: string | null;
  onAdd: (name: string) => void;
  busy: boolean;
  onMore: () => void;
}) {
  const actions = (e: Entry) =>
    e.remote && !e.unsupported ? (
      <button
        type="button"
        className="secondary"
        aria-label={`Add ${e.name}`}
        aria-expanded={adding === e.name}
        onClick={() => onAdd(e.name)}
      >
        Add
      </button>
    ) : null;
  return (
    <>
      <p className="hint">
        {results.entries.length} result{results.entries.length === 1 ? '' : 's'}
        {results.q ? ` for “${results.q}”` : ''} from <code>{results.source}</code>.
      </p>
      <ResourceTable
        rows={results.entries}
        columns={columns}
        actions={actions}
        rowKey={(e) => e.name}
        caption="Registry search results"
        empty="No server found."
      />
      {results.nextCursor !== null && (
        <button type="button" className="secondary" disabled={busy} onClick={onMore}>
          More results
        </button>
      )}
    </>
  );
}
