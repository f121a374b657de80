import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link, navigate } from '../router.tsx';
import { Empty, ErrorBox, Show, useLoad, useRowAction } from '../ui.tsx';

const pageSize = 20;

type Added = { api: Schemas['ApiCatalogEntry']; connector: Schemas['Connector'] };

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

/** The API catalog (APIs.guru): search by words and category, add an API as an OpenAPI connector. */
export function CatalogPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const q = query.get('q') ?? '';
  const category = query.get('category') ?? '';
  const page = Math.max(1, Number(query.get('page')) || 1);
  const [words, setWords] = useState(q);
  const [chosen, setChosen] = useState(category);
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
  const go = (next: { q: string; category: string; page?: number }) => {
    const params = new URLSearchParams();
    if (next.q.trim()) params.set('q', next.q.trim());
    if (next.category) params.set('category', next.category);
    if (next.page && next.page > 1) params.set('page', String(next.page));
    const qs = params.toString();
    navigate(`/catalog${qs ? `?${qs}` : ''}`);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    go({ q: words, category: chosen });
  };
  const add = (api: Schemas['ApiCatalogEntry']) => {
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
      <p>
        Public API descriptions from the <a href="https://apis.guru">APIs.guru</a> directory. Adding one registers its
        OpenAPI document as a connector: every operation becomes a tool, its security schemes the credential fields of
        the connector’s instances.
      </p>
      <form className="filters" role="search" onSubmit={submit}>
        <div className="field">
          <label htmlFor="catalog-q">Search</label>
          <input
            id="catalog-q"
            type="search"
            placeholder="name, provider or topic"
            value={words}
            onChange={(e) => setWords(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="catalog-category">Category</label>
          <select id="catalog-category" value={chosen} onChange={(e) => setChosen(e.target.value)}>
            <option value="">All categories</option>
            {results.state === 'done' &&
              results.data.categories.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name.replace(/_/g, ' ')} ({c.count})
                </option>
              ))}
          </select>
        </div>
        <button type="submit">Search</button>
      </form>
      {added && <AddedNotice added={added} />}
      {adding.error !== null && <ErrorBox error={adding.error} title="Could not add the API" />}
      <Show loaded={results} what="the API catalog">
        {(found) =>
          found.data.length === 0 ? (
            <Empty>
              No API of the catalog matches{q ? ` “${q}”` : ''}
              {category ? ` in ${category}` : ''}.
            </Empty>
          ) : (
            <>
              <p role="status">
                {found.pagination.total} API{found.pagination.total === 1 ? '' : 's'}
                {q || category ? (found.pagination.total === 1 ? ' matches' : ' match') : ' in the catalog'}.
              </p>
              <table>
                <caption className="visually-hidden">APIs of the catalog{q ? `, best match first` : ''}</caption>
                <thead>
                  <tr>
                    <th scope="col">API</th>
                    <th scope="col">Categories</th>
                    <th scope="col">Version</th>
                    <th scope="col">Connector</th>
                  </tr>
                </thead>
                <tbody>
                  {found.data.map((api) => (
                    <tr key={api.id}>
                      <td>
                        <strong>{api.title}</strong> <code>{api.id}</code>
                        {api.description && <div className="hint">{api.description}</div>}
                      </td>
                      <td>{api.categories.map((c) => c.replace(/_/g, ' ')).join(', ') || '—'}</td>
                      <td>{api.version}</td>
                      <td>
                        {api.connectorId ? (
                          <Link href="/connectors">Added</Link>
                        ) : (
                          <button
                            type="button"
                            onClick={() => add(api)}
                            disabled={adding.pending !== null}
                            aria-label={`Add ${api.title} (${api.id}) as a connector`}
                          >
                            {adding.pending === api.id ? 'Adding…' : 'Add'}
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {found.pagination.total > pageSize && (
                <nav aria-label="Pages of results" className="filters">
                  <button
                    type="button"
                    className="secondary"
                    disabled={page <= 1}
                    onClick={() => go({ q, category, page: page - 1 })}
                  >
                    Previous
                  </button>
                  <span>
                    Page {page} of {Math.ceil(found.pagination.total / pageSize)}
                  </span>
                  <button
                    type="button"
                    className="secondary"
                    disabled={page * pageSize >= found.pagination.total}
                    onClick={() => go({ q, category, page: page + 1 })}
                  >
                    Next
                  </button>
                </nav>
              )}
            </>
          )
        }
      </Show>
    </>
  );
}
