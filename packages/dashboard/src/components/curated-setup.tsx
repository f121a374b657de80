import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { SecretInput, Show, useLoad } from '../ui.tsx';
import { useAction } from './action.ts';
import { ActionError, Checks, SelectField, SubmitButton, TextField, toggledSet } from './form.tsx';

type Curated = Schemas['CuratedConnector'];
type Auth = Curated['auth'][number];
type Setup = Schemas['CuratedConnectorSetup'];

export const authLabels: Record<Auth, string> = {
  user_oauth: 'People’s own accounts (OAuth)',
  token: 'A token or API key',
};

/** What each credential asks for, in words (the field's name otherwise). */
const credentialLabels: Record<string, string> = {
  client_id: 'OAuth app client id',
  client_secret: 'OAuth app client secret',
};

/** The secret fields of the chosen authentication. */
function CredentialFields(props: {
  entry: Curated;
  auth: Auth;
  values: Record<string, string>;
  onValues: (v: Record<string, string>) => void;
}) {
  const keys = props.entry.credentials[props.auth] ?? [];
  return (
    <>
      {keys.map((key) => (
        <div className="field" key={key}>
          <label htmlFor={`setup-${props.entry.slug}-${key}`}>
            {credentialLabels[key] ?? key} <span>(required)</span>
          </label>
          <SecretInput
            id={`setup-${props.entry.slug}-${key}`}
            required
            value={props.values[key] ?? ''}
            onValue={(v) => props.onValues({ ...props.values, [key]: v })}
          />
        </div>
      ))}
    </>
  );
}

type Where = { base_url: string; authorization_url: string; token_url: string; revocation_url: string };
const nowhere: Where = { base_url: '', authorization_url: '', token_url: '', revocation_url: '' };

const whereLabels: Record<keyof Where, string> = {
  base_url: 'API base URL',
  authorization_url: 'OAuth authorization URL',
  token_url: 'OAuth token URL',
  revocation_url: 'OAuth revocation URL',
};

/** Where the provider is, when not at its public addresses (a self-hosted provider, a sandbox): optional, folded. */
function WhereFields(props: { slug: string; auth: Auth; where: Where; onWhere: (w: Where) => void }) {
  const keys = (Object.keys(whereLabels) as (keyof Where)[]).filter(
    (k) => k === 'base_url' || props.auth === 'user_oauth',
  );
  return (
    <details>
      <summary>Where the provider is (optional: a self-hosted provider or a sandbox)</summary>
      {keys.map((k) => (
        <TextField
          key={k}
          id={`setup-${props.slug}-${k}`}
          label={whereLabels[k]}
          type="url"
          value={props.where[k]}
          onValue={(v) => props.onWhere({ ...props.where, [k]: v })}
        />
      ))}
    </details>
  );
}

/** The request body's `base_url` and `oauth_urls`, from what was typed (empty: the provider's own). */
function whereOf(where: Where, auth: Auth) {
  const oauth = Object.fromEntries(
    (['authorization_url', 'token_url', 'revocation_url'] as const).filter((k) => where[k]).map((k) => [k, where[k]]),
  );
  return {
    ...(where.base_url ? { base_url: where.base_url } : {}),
    ...(auth === 'user_oauth' && Object.keys(oauth).length > 0 ? { oauth_urls: oauth } : {}),
  };
}

/** What was set up: the server's page and its MCP URL; for people's accounts, what comes next. */
function SetUp({ entry, setup, auth }: { entry: Curated; setup: Setup; auth: Auth }) {
  return (
    <p className="success" role="status">
      Set up {entry.name}: server{' '}
      {setup.server ? <Link href={`/servers/${setup.server.id}`}>{setup.server.name}</Link> : 'none'}
      {setup.server && (
        <>
          {' '}
          at <code>{setup.server.url}</code>
        </>
      )}
      .{auth === 'user_oauth' && ' Each person connects their own account through the link their agent gets.'}
    </p>
  );
}

/**
 * A curated connector in one step (`POST /connectors/curated/{slug}/setup`): the tools to expose, how the instance
 * authenticates (the OAuth app's client id and secret, or the token) and its name; then the connector, the instance
 * and its MCP server are created together.
 */
export function CuratedSetupForm(props: { client: ManagementClient; entry: Curated; onDone: () => void }) {
  const { client, entry } = props;
  const [auth, setAuth] = useState<Auth>(entry.auth[0] ?? 'token');
  const [tools, setTools] = useState<ReadonlySet<string>>(new Set(entry.tools.map((t) => t.name)));
  const [values, setValues] = useState<Record<string, string>>({});
  const [name, setName] = useState(entry.slug);
  const [where, setWhere] = useState<Where>(nowhere);
  const [done, setDone] = useState<Setup | null>(null);
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const keys = entry.credentials[auth] ?? [];
    const body = {
      auth,
      name,
      ...whereOf(where, auth),
      credentials: Object.fromEntries(keys.map((k) => [k, values[k] ?? ''])),
      tools: entry.tools.map((t) => t.name).filter((t) => tools.has(t)),
    };
    action.run(
      () => unwrap(client.POST('/connectors/curated/{slug}/setup', { params: { path: { slug: entry.slug } }, body })),
      {
        failed: `Could not set up ${entry.name}`,
        then: (setup) => {
          setDone(setup);
          props.onDone();
        },
      },
    );
  };
  if (done) return <SetUp entry={entry} setup={done} auth={auth} />;
  return (
    <form className="form" onSubmit={submit} aria-labelledby={`setup-${entry.slug}-heading`}>
      <h3 id={`setup-${entry.slug}-heading`}>Set up {entry.name}</h3>
      <fieldset>
        <legend>Tools its server exposes</legend>
        <Checks
          items={entry.tools}
          idOf={(t) => `setup-${entry.slug}-tool-${t.name}`}
          labelOf={(t) => <code title={t.description}>{t.name}</code>}
          checked={(t) => tools.has(t.name)}
          onToggle={(t, on) => setTools((all) => toggledSet(all, t.name, on))}
        />
      </fieldset>
      {entry.auth.length > 1 && (
        <SelectField
          id={`setup-${entry.slug}-auth`}
          label="Authentication"
          value={auth}
          onValue={(v) => setAuth(v as Auth)}
          options={entry.auth.map((a) => ({ value: a, label: authLabels[a] }))}
        />
      )}
      <CredentialFields entry={entry} auth={auth} values={values} onValues={setValues} />
      <TextField id={`setup-${entry.slug}-name`} label="Instance name" value={name} onValue={setName} required />
      <WhereFields slug={entry.slug} auth={auth} where={where} onWhere={setWhere} />
      <ActionError action={action} title={`Could not set up ${entry.name}`} />
      <SubmitButton busy={action.busy} disabled={tools.size === 0} busyLabel="Setting up…">
        Set up {entry.name}
      </SubmitButton>
    </form>
  );
}

type Preview = Schemas['ConnectorUpdatePreview'];

function Changes({ preview }: { preview: Preview }) {
  if (preview.servers.length === 0) return <p>No server uses it yet: nothing else changes.</p>;
  return (
    <ul>
      {preview.servers.map((s) => (
        <li key={s.id}>
          <strong>{s.name}</strong>:{' '}
          {s.added.length + s.removed.length + s.changed.length === 0
            ? 'its tools stay the same'
            : [
                s.added.length > 0 && `gains ${s.added.join(', ')}`,
                s.removed.length > 0 && `loses ${s.removed.join(', ')}`,
                s.changed.length > 0 && `changes ${s.changed.map((c) => c.name).join(', ')}`,
              ]
                .filter(Boolean)
                .join('; ')}
        </li>
      ))}
    </ul>
  );
}

/** What upgrading a curated connector would change on each server (its dry run), loaded once per connector. */
export function useUpgradePreview(client: ManagementClient, slug: string) {
  return useLoad(
    () =>
      unwrap(
        client.POST('/connectors/curated/{slug}/upgrade', { params: { path: { slug }, query: { dry_run: 'true' } } }),
      ) as Promise<Preview>,
    [client, slug],
  );
}

/**
 * A version of a curated connector newer than the workspace's: what it would change on each server first (a dry
 * run), then applied only when the person says so.
 */
export function CuratedUpgrade(props: { client: ManagementClient; entry: Curated; onDone: () => void }) {
  const { client, entry } = props;
  const update = entry.update!;
  const [preview] = useUpgradePreview(client, entry.slug);
  const action = useAction();
  const [done, setDone] = useState(false);
  const apply = () =>
    action.run(
      () => unwrap(client.POST('/connectors/curated/{slug}/upgrade', { params: { path: { slug: entry.slug } } })),
      {
        failed: `Could not update ${entry.name}`,
        then: () => {
          setDone(true);
          props.onDone();
        },
      },
    );
  if (done)
    return (
      <p className="success" role="status">
        Updated {entry.name} to {update.to}.
      </p>
    );
  return (
    <section aria-labelledby={`upgrade-${entry.slug}-heading`}>
      <h3 id={`upgrade-${entry.slug}-heading`}>
        Update {entry.name} from {update.from} to {update.to}
      </h3>
      <Show loaded={preview} what="what the update would change">
        {(p) => <Changes preview={p} />}
      </Show>
      <ActionError action={action} title={`Could not update ${entry.name}`} />
      <button type="button" onClick={apply} disabled={action.busy || preview.state !== 'done'}>
        {action.busy ? 'Updating…' : `Apply the update to ${update.to}`}
      </button>
    </section>
  );
}
