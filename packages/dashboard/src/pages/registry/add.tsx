import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { Link } from '../../router.tsx';
import { useAction } from '../../components/action.ts';
import { TextField, FormEnd } from '../../components/form.tsx';
import { SecretInput } from '../../ui.tsx';

export type Entry = Schemas['RegistrySearchEntry'];

export type Added = Schemas['RegistryAddResult'];

export type DeclaredHeader = NonNullable<Entry['remote']>['headers'][number];

const slug = '[a-z0-9][a-z0-9_\\-]{0,49}';

/** "required, secret": what a declared header is. */
export const headerTraits = (h: Pick<DeclaredHeader, 'isRequired' | 'isSecret'>) =>
  [h.isRequired ? 'required' : 'optional', ...(h.isSecret ? ['secret'] : [])].join(', ');

/**
 * Adds `entry` in one step: a name (empty: the server's) and a value per header it declares, secrets in password
 * fields. The values go in the request only: the form forgets them once sent.
 */
export function AddForm({
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
export function AddOutcome({ result }: { result: Added }) {
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
