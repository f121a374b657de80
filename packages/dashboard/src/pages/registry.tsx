import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { useAction } from '../components/action.ts';
import { ActionError, ActionOutcome, SubmitButton, TextField, FormEnd } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Writable } from '../powers.tsx';
import { CopyBlock, SecretInput, Show, useLoad } from '../ui.tsx';
import { Section } from '../components/section.tsx';
import { Facts } from '../components/facts.tsx';

type Entry = Schemas['RegistrySearchEntry'];
type Added = Schemas['RegistryAddResult'];
type Served = Schemas['RegistryServerResponse'];
type DeclaredHeader = NonNullable<Entry['remote']>['headers'][number];

const slug = '[a-z0-9][a-z0-9_\\-]{0,49}';

/** "required, secret": what a declared header is. */
const headerTraits = (h: Pick<DeclaredHeader, 'isRequired' | 'isSecret'>) =>
  [h.isRequired ? 'required' : 'optional', ...(h.isSecret ? ['secret'] : [])].join(', ');

function HeaderList({ headers, label }: { headers: readonly DeclaredHeader[]; label: string }) {
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

/**
 * The registry the workspace searches and adds from, and the namespace of the one it serves; empty fields go back
 * to the defaults. The server checks both (a 422 lists each problem).
 */
function SourceSettings({ client, onSaved }: { client: ManagementClient; onSaved: () => void }) {
  const [loaded, reload] = useLoad(() => unwrap(client.GET('/registry/settings')), [client]);
  return (
    <Section id="registry-source" title="Registry source">
      <Show loaded={loaded} what="the registry settings">
        {(settings) => (
          <SettingsForm
            client={client}
            settings={settings}
            onSaved={() => {
              reload();
              onSaved();
            }}
          />
        )}
      </Show>
    </Section>
  );
}

function SettingsForm({
  client,
  settings,
  onSaved,
}: {
  client: ManagementClient;
  settings: Schemas['RegistrySettings'];
  onSaved: () => void;
}) {
  const [sourceUrl, setSourceUrl] = useState(settings.sourceUrl ?? '');
  const [namespace, setNamespace] = useState(settings.namespace ?? '');
  const save = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = { sourceUrl: sourceUrl.trim() || null, namespace: namespace.trim() || null };
    save.run(() => unwrap(client.PUT('/registry/settings', { body })), {
      then: (saved) => {
        onSaved();
        return `Saved: searching ${saved.effective.sourceUrl}, serving as ${saved.effective.namespace}.`;
      },
    });
  };
  return (
    <>
      <Facts
        facts={[
          [
            'Searched and added from',
            <>
              <code>{settings.effective.sourceUrl}</code>
              {settings.sourceUrl === null && ' (the default)'}
            </>,
          ],
          [
            'Namespace served',
            <>
              <code>{settings.effective.namespace}</code>
              {settings.namespace === null && ' (the default)'}
            </>,
          ],
        ]}
      />
      <form className="form" onSubmit={submit}>
        <TextField
          id="registry-source"
          label="Registry URL (empty: the default)"
          autoComplete="off"
          value={sourceUrl}
          onValue={setSourceUrl}
        />
        <TextField
          id="registry-namespace"
          label="Namespace of this workspace’s servers (empty: the edge’s host reversed)"
          autoComplete="off"
          value={namespace}
          onValue={setNamespace}
        />
        <ActionOutcome action={save} title="Not saved" />
        <SubmitButton busy={save.busy} busyLabel="Saving…">
          Save registry settings
        </SubmitButton>
      </form>
    </>
  );
}

/**
 * Adds `entry` in one step: a name (empty: the server's) and a value per header it declares, secrets in password
 * fields. The values go in the request only: the form forgets them once sent.
 */
function AddForm({
  client,
  entry,
  onAdded,
}: {
  client: ManagementClient;
  entry: Entry;
  onAdded: (result: Added) => void;
}) {
  const headers = entry.remote?.headers ?? [];
  const [as, setAs] = useState('');
  const [values, setValues] = useState<Record<string, string>>({});
  const add = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const given = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));
    const body = { name: entry.name, version: entry.version, headers: given, ...(as.trim() ? { as: as.trim() } : {}) };
    add.run(() => unwrap(client.POST('/registry/add', { body })), {
      then: (result) => {
        setValues({});
        onAdded(result);
      },
      failed: 'Not added',
    });
  };
  const id = `add-${entry.name.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
  return (
    <section aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>Add {entry.name}</h3>
      <form className="form" onSubmit={submit}>
        <TextField
          id={`${id}-as`}
          label="Name of the external MCP server (empty: the part after /)"
          pattern={slug}
          title="Lower-case letters, digits, - and _"
          autoComplete="off"
          value={as}
          onValue={setAs}
        />
        {headers.map((h, i) => (
          <HeaderInput
            key={h.name}
            id={`${id}-header-${i}`}
            header={h}
            value={values[h.name] ?? ''}
            onValue={(v) => setValues((prev) => ({ ...prev, [h.name]: v }))}
          />
        ))}
        <FormEnd action={add} failed="Not added" busyLabel="Adding…">
          Add as an external MCP server
        </FormEnd>
      </form>
    </section>
  );
}

/** A declared header's value: a password field for a secret (never shown again), a text field otherwise. */
function HeaderInput({
  id,
  header,
  value,
  onValue,
}: {
  id: string;
  header: DeclaredHeader;
  value: string;
  onValue: (v: string) => void;
}) {
  const label = `Header ${header.name} (${headerTraits(header)}${header.isSecret ? ': write-only, never shown again' : ''})`;
  return (
    <>
      <label htmlFor={id}>{label}</label>
      {header.isSecret ? (
        <SecretInput id={id} value={value} onValue={onValue} />
      ) : (
        <input
          id={id}
          autoComplete="off"
          placeholder="empty: the registry’s value"
          value={value}
          onChange={(e) => onValue(e.target.value)}
        />
      )}
      {header.description && <p className="hint">{header.description}</p>}
    </>
  );
}

/** What an add did: the new external MCP server (a link), whether it listed, and each header still to set. */
function AddOutcome({ result }: { result: Added }) {
  const server = result.externalMcpServer;
  const tools = `${server.tools.length} tool${server.tools.length === 1 ? '' : 's'}`;
  return (
    <div className="success" role="status" aria-label={`Added ${result.registry.name}`}>
      <p>
        Added {result.registry.name} {result.registry.version} as the external MCP server{' '}
        <Link href="/external-servers">{server.name}</Link>{' '}
        {server.listError ? `(not listed yet: ${server.listError})` : `with ${tools}`}.
      </p>
      {result.toFill.length > 0 && (
        <>
          <p>Still to set before it can be listed (Change {server.name} on the external MCP servers page):</p>
          <ul aria-label={`Headers of ${server.name} still to set`}>
            {result.toFill.map((h) => (
              <li key={h.name}>
                <code>{h.name}</code> ({headerTraits(h)}): <code>{h.set}</code>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
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
function Search({ client }: { client: ManagementClient }) {
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

const servedColumns: Column<Served>[] = [
  { header: 'Name', rowHeader: true, cell: (s) => <code>{s.server.name}</code> },
  { header: 'Version', cell: (s) => s.server.version },
  {
    header: 'Remote',
    cell: (s) =>
      s.server.remotes.map((r) => (
        <code key={r.url}>
          {r.url} ({r.type})
        </code>
      )),
  },
  {
    header: 'Headers',
    cell: (s) => (
      <HeaderList headers={s.server.remotes.flatMap((r) => r.headers)} label={`Headers of ${s.server.name}`} />
    ),
  },
  { header: 'Description', cell: (s) => s.server.description },
];

/**
 * The workspace's own servers as a registry (the registry API's read side): its URL, to copy into a client or an
 * internal catalog, and what it lists, read with this session's credentials.
 */
function ServedRegistry({ client, refresh }: { client: ManagementClient; refresh: number }) {
  const [loaded] = useLoad(
    () => unwrap(client.GET('/registry/v0.1/servers', { params: { query: { limit: 100 } } })),
    [client],
    refresh,
  );
  const url = `${window.location.origin}/api/v1/registry/v0.1/servers`;
  return (
    <Section id="registry-served" title="This workspace as a registry">
      <p className="hint">
        Clients and catalogs that read the MCP Registry API (v0.1) find this workspace’s MCP servers here. It answers
        any key or token of the management API; a key limited to servers lists those only.
      </p>
      <CopyBlock label="Registry URL" text={url} />
      <Show loaded={loaded} what="the servers this workspace serves">
        {(list) => (
          <>
            <ResourceTable
              rows={list.servers}
              columns={servedColumns}
              rowKey={(s) => s.server.name}
              caption="Servers this workspace’s registry lists"
              empty="This workspace has no MCP server yet."
            />
            {list.metadata.nextCursor && <p className="hint">The first 100 are shown.</p>}
          </>
        )}
      </Show>
    </Section>
  );
}

/**
 * The MCP Registry both ways: the source this workspace searches and adds external MCP servers from (one step:
 * its remote and the headers it declares), and the registry this workspace serves of its own servers.
 */
export function RegistryPage({ client }: { client: ManagementClient }) {
  const [refresh, setRefresh] = useState(0);
  return (
    <>
      <h1>MCP Registry</h1>
      <p className="hint">
        Add external MCP servers from the MCP Registry in one step, and serve this workspace’s MCP servers as a registry
        of its own. Header values go to the secrets store and are never shown again.
      </p>
      <Writable>
        <SourceSettings client={client} onSaved={() => setRefresh((n) => n + 1)} />
      </Writable>
      <Search client={client} />
      <ServedRegistry client={client} refresh={refresh} />
    </>
  );
}
