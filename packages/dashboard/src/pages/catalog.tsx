import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link, navigate } from '../router.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { SelectField, TextField } from '../components/form.tsx';
import { ActionButton, Empty, ErrorBox, Show, useLoad, useRowAction } from '../ui.tsx';
import { CuratedConnectors, type Added } from './catalog/curated.tsx';

const pageSize = 20;

/** What an added connector needs next: its credential fields, set on an instance. */
function AddedNotice({ added }: { added: Added }) {
  const { api, connector } = added;
  const fields = connector.kind === 'openapi' ? connector.credentialFields.map((f) => f.key) : [];
  return (
    <p className="success" role="status">
      Added <strong>{api.title}</strong> as connector <code>{connector.slug}</code> {connector.version} with{' '}
      {connector.tools.length} tools
      {fields.length > 0 ? (
        <>; its credential fields: {fields.map((f, i) => [i > 0 ? ', ' : '', <code key={f}>{f}</code>])}</>
      ) : (
        '; it needs no credentials'
      )}
      . <Link href="/instances">Create an instance of it</Link>.
    </p>
  );
}

type Entry = Schemas['ApiCatalogEntry'];

type Found = Schemas['ApiCatalogPage'];

type Query = { q: string; category: string; page?: number };

/** The search: words and a category, applied when submitted. */
function SearchForm({
  q,
  category,
  found,
  onSearch,
}: {
  q: string;
  category: string;
  found: Found | null;
  onSearch: (q: Query) => void;
}) {
  const [words, setWords] = useState(q);
  const [chosen, setChosen] = useState(category);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSearch({ q: words, category: chosen });
  };
  const categories = (found?.categories ?? []).map((c) => ({
    value: c.name,
    label: `${c.name.replace(/_/g, ' ')} (${c.count})`,
  }));
  return (
    <form className="filters" role="search" onSubmit={submit}>
      <TextField
        inline
        id="catalog-q"
        label="Search"
        type="search"
        placeholder="name, provider or topic"
        value={words}
        onValue={setWords}
      />
      <SelectField
        inline
        id="catalog-category"
        label="Category"
        value={chosen}
        onValue={setChosen}
        options={[{ value: '', label: 'All categories' }, ...categories]}
      />
      <button type="submit">Search</button>
    </form>
  );
}

/** Previous and next pages of the results. */
function Pages({ page, total, onPage }: { page: number; total: number; onPage: (page: number) => void }) {
  if (total <= pageSize) return null;
  return (
    <nav aria-label="Pages of results" className="filters">
      <button type="button" className="secondary" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span>
        Page {page} of {Math.ceil(total / pageSize)}
      </span>
      <button type="button" className="secondary" disabled={page * pageSize >= total} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}

function Results(props: {
  found: Found;
  q: string;
  category: string;
  page: number;
  adding: string | null;
  onAdd: (api: Entry) => void;
  onPage: (page: number) => void;
}) {
  const { found, q, category } = props;
  const total = found.pagination.total;
  const columns: Column<Entry>[] = [
    {
      header: 'API',
      cell: (api) => (
        <>
          <strong>{api.title}</strong> <code>{api.id}</code>
          {api.description && <div className="hint">{api.description}</div>}
        </>
      ),
    },
    { header: 'Categories', cell: (api) => api.categories.map((c) => c.replace(/_/g, ' ')).join(', ') || '—' },
    { header: 'Version', cell: (api) => api.version },
    {
      header: 'Connector',
      cell: (api) =>
        api.connectorId ? (
          <Link href="/connectors">Added</Link>
        ) : (
          <ActionButton
            onClick={() => props.onAdd(api)}
            disabled={props.adding !== null}
            aria-label={`Add ${api.title} (${api.id}) as a connector`}
          >
            {props.adding === api.id ? 'Adding…' : 'Add'}
          </ActionButton>
        ),
    },
  ];
  if (found.data.length === 0)
    return (
      <Empty>
        No API of the catalog matches{q ? ` “${q}”` : ''}
        {category ? ` in ${category}` : ''}.
      </Empty>
    );
  return (
    <>
      <p role="status">
        {total} API{total === 1 ? '' : 's'}
        {q || category ? (total === 1 ? ' matches' : ' match') : ' in the catalog'}.
      </p>
      <ResourceTable
        rows={found.data}
        columns={columns}
        caption={`APIs of the catalog${q ? `, best match first` : ''}`}
      />
      <Pages page={props.page} total={total} onPage={props.onPage} />
    </>
  );
}

/** The API catalog (APIs.guru): search by words and category, add an API as an OpenAPI connector. */
export function CatalogPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const q = query.get('q') ?? '';
  const category = query.get('category') ?? '';
  const page = Math.max(1, Number(query.get('page')) || 1);
  const [results, reload] = useLoad(
    () =>
      unwrap(
        client.GET('/api_catalog', {
          params: { query: { page, limit: pageSize, ...(q ? { q } : {}), ...(category ? { category } : {}) } },
        }),
      ),
    [client, q, category, page],
  );
  const adding = useRowAction();
  const [added, setAdded] = useState<Added | null>(null);
  const go = (next: Query) => {
    const params = new URLSearchParams();
    if (next.q.trim()) params.set('q', next.q.trim());
    if (next.category) params.set('category', next.category);
    if (next.page && next.page > 1) params.set('page', String(next.page));
    const qs = params.toString();
    navigate(`/catalog${qs ? `?${qs}` : ''}`);
  };
  const add = (api: Entry) => {
    setAdded(null);
    adding.run(
      api.id,
      () =>
        unwrap(client.POST('/api_catalog/{id}/add', { params: { path: { id: api.id } } })).then((connector) =>
          setAdded({ api, connector }),
        ),
      reload,
    );
  };
  return (
    <>
      <h1>API catalog</h1>
      <CuratedConnectors client={client} />
      <h2>Public APIs (APIs.guru)</h2>
      <p>
        Public API descriptions from the <a href="https://apis.guru">APIs.guru</a> directory. Adding one registers its
        OpenAPI document as a connector: every operation becomes a tool, its security schemes the credential fields of
        the connector’s instances. This catalog is not built in: it is fetched from the internet, so without internet
        access it cannot be searched (the curated connectors above, and an API added from its own document on the
        Connectors page, need no internet).
      </p>
      <SearchForm q={q} category={category} found={results.state === 'done' ? results.data : null} onSearch={go} />
      {added && <AddedNotice added={added} />}
      {adding.error !== null && <ErrorBox error={adding.error} title="Could not add the API" />}
      <Show loaded={results} what="the API catalog">
        {(found) => (
          <Results
            found={found}
            q={q}
            category={category}
            page={page}
            adding={adding.pending}
            onAdd={add}
            onPage={(n) => go({ q, category, page: n })}
          />
        )}
      </Show>
    </>
  );
}
