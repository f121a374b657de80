import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { useAction } from '../components/action.ts';
import { Success, TextField, FormEnd } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { SecretInput, useLoad, when } from '../ui.tsx';
import { ChangeAndDelete, useEditedRow } from '../components/delete-button.tsx';
import { byId, FormAndList, useRowDelete } from '../components/list-page.tsx';
import { FormSection } from '../components/section.tsx';

type Registered = Schemas['ExternalMcpServer'];

const slug = '[a-z0-9][a-z0-9_\\-]{0,49}';

/** A header name and its value (write-only: typed in a password field, sent once, never shown back). */
function HeaderFields({
  id,
  name,
  value,
  onName,
  onValue,
  required = false,
}: {
  id: string;
  name: string;
  value: string;
  onName: (v: string) => void;
  onValue: (v: string) => void;
  required?: boolean;
}) {
  return (
    <>
      <label htmlFor={`${id}-name`}>Header name{required ? '' : ' (optional)'}</label>
      <input
        id={`${id}-name`}
        required={required}
        autoComplete="off"
        pattern="[A-Za-z0-9!#$%&'*+.^_`|~\-]{1,100}"
        title="An HTTP header name"
        value={name}
        onChange={(e) => onName(e.target.value)}
      />
      <label htmlFor={`${id}-value`}>Header value (write-only: never shown again)</label>
      <SecretInput id={`${id}-value`} required={required || name.trim() !== ''} value={value} onValue={onValue} />
    </>
  );
}

/** Change one registered server: its name, its URL, one header set or removed; the rest is left as it is. */
function EditServer({
  client,
  server,
  onDone,
}: {
  client: ManagementClient;
  server: Registered;
  onDone: (message: string) => void;
}) {
  const [name, setName] = useState(server.name);
  const [url, setUrl] = useState(server.url);
  const [header, setHeader] = useState('');
  const [value, setValue] = useState('');
  const save = useAction();
  const patch = (body: Schemas['UpdateExternalMcpServerBody'], what: string) =>
    save.run(() => unwrap(client.PATCH('/external_mcp_servers/{id}', { params: { path: { id: server.id } }, body })), {
      then: (changed) => {
        setHeader('');
        setValue('');
        onDone(
          `${what} ${changed.name}; ${changed.usedBy.length} server${changed.usedBy.length === 1 ? '' : 's'} updated.`,
        );
      },
    });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: Schemas['UpdateExternalMcpServerBody'] = {
      ...(name.trim() !== server.name ? { name: name.trim() } : {}),
      ...(url.trim() !== server.url ? { url: url.trim() } : {}),
      ...(header.trim() ? { headers: { [header.trim()]: value } } : {}),
    };
    patch(body, 'Saved');
  };
  const id = `edit-${server.id}`;
  return (
    <section aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>Change {server.name}</h3>
      <form className="form" onSubmit={submit}>
        <TextField id={`${id}-server-name`} label="Name" required pattern={slug} value={name} onValue={setName} />
        <TextField id={`${id}-url`} label="URL" type="url" required value={url} onValue={setUrl} />
        <p className="hint">Set one header: the others keep their values.</p>
        <HeaderFields id={`${id}-header`} name={header} value={value} onName={setHeader} onValue={setValue} />
        <FormEnd action={save} failed="Not saved" busyLabel="Saving…">
          Save changes
        </FormEnd>
      </form>
      {server.headerNames.length > 0 && (
        <ul aria-label={`Headers of ${server.name}`}>
          {server.headerNames.map((h) => (
            <li key={h}>
              <code>{h}</code> (value sealed){' '}
              <button
                type="button"
                className="secondary"
                aria-label={`Remove header ${h} of ${server.name}`}
                disabled={save.busy}
                onClick={() => patch({ headers: { [h]: null } }, `Removed ${h} from`)}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** Registers a server: a name, a URL and one header (more can be set afterwards). */
function RegisterForm({ client, onRegistered }: { client: ManagementClient; onRegistered: (message: string) => void }) {
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [header, setHeader] = useState('');
  const [value, setValue] = useState('');
  const register = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = { name: name.trim(), url: url.trim(), headers: header.trim() ? { [header.trim()]: value } : {} };
    register.run(() => unwrap(client.POST('/external_mcp_servers', { body })), {
      then: (created) => {
        setName('');
        setUrl('');
        setHeader('');
        setValue('');
        const tools = `${created.tools.length} tool${created.tools.length === 1 ? '' : 's'}`;
        onRegistered(
          created.listError
            ? `Registered ${created.name}, but it could not be listed: ${created.listError}`
            : `Registered ${created.name} with ${tools}.`,
        );
      },
    });
  };
  return (
    <FormSection id="register" title="Register an external MCP server" onSubmit={submit}>
      <TextField
        id="ext-name"
        label="Name"
        required
        pattern={slug}
        title="Lower-case letters, digits, - and _"
        value={name}
        onValue={setName}
      />
      <TextField id="ext-url" label="URL" type="url" required value={url} onValue={setUrl} />
      <HeaderFields id="ext-header" name={header} value={value} onName={setHeader} onValue={setValue} />
      <FormEnd
        action={register}
        failed="Not registered"
        disabled={!name.trim() || !url.trim()}
        busyLabel="Registering…"
      >
        Register
      </FormEnd>
    </FormSection>
  );
}

const columns: Column<Registered>[] = [
  { header: 'Name', cell: (s) => s.name },
  { header: 'URL', cell: (s) => <code>{s.url}</code> },
  { header: 'Headers', cell: (s) => (s.headerNames.length === 0 ? 'none' : s.headerNames.join(', ')) },
  { header: 'Tools', cell: (s) => s.tools.map((t) => t.name).join(', ') || '—' },
  {
    header: 'Used by',
    cell: (s) =>
      s.usedBy.length === 0
        ? 'no server'
        : s.usedBy.map((u, i) => (
            <span key={u.id}>
              {i > 0 && ', '}
              <Link href={`/servers/${u.id}`}>{u.name}</Link>
            </span>
          )),
  },
  { header: 'Last listed', cell: (s) => (s.listError ? `failed: ${s.listError}` : when(s.listedAt)) },
  {
    header: 'Review',
    cell: (s) => (
      <>
        {s.heldChanges === 0 ? (
          'nothing held'
        ) : (
          <Link href={`/review?server=${encodeURIComponent(s.name)}`}>{s.heldChanges} held</Link>
        )}
        {s.autoAccept && <> (changes accepted automatically)</>}
      </>
    ),
  },
];

/**
 * External MCP servers registered on the workspace: a name, a URL and headers (values write-only), used by name
 * from any MCP server (`externalMcpServers`). A change here reaches every server using it.
 */
export function ExternalServersPage({ client }: { client: ManagementClient }) {
  const [list, reload] = useLoad(() => unwrap(client.GET('/external_mcp_servers')).then((r) => r.data), [client]);
  const [done, setDone] = useState<string | null>(null);
  const { editing, setEditing, edited } = useEditedRow(list);
  const { error, ...deletion } = useRowDelete(
    (id) => unwrap(client.DELETE('/external_mcp_servers/{id}', byId(id))),
    reload,
  );
  const report = (message: string) => {
    setDone(message);
    reload();
  };
  const actions = (s: Registered) => (
    <ChangeAndDelete
      row={s}
      editing={editing}
      onEditing={setEditing}
      deletion={deletion}
      verb="Unregister"
      label="Remove"
    />
  );
  return (
    <>
      <h1>External MCP servers</h1>
      <p className="hint">
        Registered once on the workspace and used by name from any MCP server. Header values go to the secrets store and
        never come back; changing the URL, the name or one header updates every server using it. What each one offers is
        pinned when it is registered: a tool, resource or prompt it changes or adds later waits on the{' '}
        <Link href="/review">Review</Link> page until someone accepts it.
      </p>
      <FormAndList
        form={<RegisterForm client={client} onRegistered={report} />}
        between={<Success>{done}</Success>}
        section={{ id: 'registered', title: 'Registered servers', failed: 'Not removed' }}
        failure={error}
      >
        <ResourceTable
          loaded={list}
          what="the external MCP servers"
          columns={columns}
          actions={actions}
          caption="Registered external MCP servers"
          empty="No external MCP server registered yet."
        />
        {edited && (
          <EditServer key={`${edited.id}-${edited.updatedAt}`} client={client} server={edited} onDone={report} />
        )}
      </FormAndList>
    </>
  );
}
