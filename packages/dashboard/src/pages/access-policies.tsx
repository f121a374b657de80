import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { ConfirmButton, Empty, ErrorBox, Show, useLoad, useRowAction } from '../ui.tsx';

type Principal = Schemas['AccessPolicyBody']['principals'][number];
const principalTypes: { type: Principal['type']; label: string }[] = [
  { type: 'api_key', label: 'API key' },
  { type: 'oauth_subject', label: 'OAuth subject' },
  { type: 'oauth_group', label: 'OAuth group' },
  { type: 'external_user', label: 'External user' },
];
const typeLabel = (t: Principal['type']) => principalTypes.find((p) => p.type === t)?.label ?? t;

function CreatePolicy({
  client,
  keys,
  servers,
  onCreated,
}: {
  client: ManagementClient;
  keys: Schemas['ApiKey'][];
  servers: Schemas['McpServerSummary'][];
  onCreated: () => void;
}) {
  const [name, setName] = useState('');
  const [principals, setPrincipals] = useState<Principal[]>([{ type: 'api_key', value: '' }]);
  const [allServers, setAllServers] = useState(true);
  const [serverIds, setServerIds] = useState<string[]>([]);
  const [tools, setTools] = useState('*');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const setPrincipal = (i: number, p: Partial<Principal>) =>
    setPrincipals(principals.map((x, j) => (j === i ? { ...x, ...p } : x)));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    const body: Schemas['AccessPolicyBody'] = {
      name: name.trim(),
      principals: principals.map((p) => ({ type: p.type, value: p.value.trim() })),
      servers: allServers ? ['*'] : serverIds,
      tools: tools
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    };
    unwrap(client.POST('/access_policies', { body }))
      .then(
        (policy) => {
          setDone(`Created ${policy.name}.`);
          setName('');
          onCreated();
        },
        (err: unknown) => setError(err),
      )
      .finally(() => setBusy(false));
  };
  const activeKeys = keys.filter((k) => !k.revokedAt);
  return (
    <section aria-labelledby="create-policy-title">
      <h2 id="create-policy-title">Create an access policy</h2>
      <form className="form" onSubmit={submit}>
        <label htmlFor="policy-name">Name</label>
        <input id="policy-name" required value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        <fieldset>
          <legend>Who (principals)</legend>
          {principals.map((p, i) => (
            <div className="inline-form" key={i}>
              <div className="field">
                <label htmlFor={`principal-type-${i}`}>Kind of principal {i + 1}</label>
                <select
                  id={`principal-type-${i}`}
                  value={p.type}
                  onChange={(e) => setPrincipal(i, { type: e.target.value as Principal['type'], value: '' })}
                >
                  {principalTypes.map((t) => (
                    <option key={t.type} value={t.type}>
                      {t.label}
                    </option>
                  ))}
                </select>
              </div>
              <div className="field">
                <label htmlFor={`principal-value-${i}`}>
                  {p.type === 'api_key' ? 'Key' : 'Value'} of principal {i + 1}
                </label>
                {p.type === 'api_key' ? (
                  <select
                    id={`principal-value-${i}`}
                    required
                    value={p.value}
                    onChange={(e) => setPrincipal(i, { value: e.target.value })}
                  >
                    <option value="">Choose a key</option>
                    {activeKeys.map((k) => (
                      <option key={k.id} value={k.id}>
                        {k.name} ({k.prefix}…)
                      </option>
                    ))}
                  </select>
                ) : (
                  <input
                    id={`principal-value-${i}`}
                    required
                    placeholder="a name, or *"
                    value={p.value}
                    onChange={(e) => setPrincipal(i, { value: e.target.value })}
                  />
                )}
              </div>
              {principals.length > 1 && (
                <button
                  type="button"
                  className="secondary"
                  onClick={() => setPrincipals(principals.filter((_, j) => j !== i))}
                  aria-label={`Remove principal ${i + 1}`}
                >
                  Remove
                </button>
              )}
            </div>
          ))}
          <button
            type="button"
            className="secondary"
            onClick={() => setPrincipals([...principals, { type: 'api_key', value: '' }])}
          >
            Add a principal
          </button>
        </fieldset>
        <fieldset>
          <legend>Which servers</legend>
          <div className="checks">
            <span>
              <input
                type="checkbox"
                id="policy-all-servers"
                checked={allServers}
                onChange={(e) => setAllServers(e.target.checked)}
              />
              <label htmlFor="policy-all-servers">Every server (*)</label>
            </span>
            {!allServers &&
              servers.map((s) => (
                <span key={s.id}>
                  <input
                    type="checkbox"
                    id={`policy-server-${s.id}`}
                    checked={serverIds.includes(s.id)}
                    onChange={(e) =>
                      setServerIds(e.target.checked ? [...serverIds, s.id] : serverIds.filter((x) => x !== s.id))
                    }
                  />
                  <label htmlFor={`policy-server-${s.id}`}>{s.name}</label>
                </span>
              ))}
          </div>
        </fieldset>
        <label htmlFor="policy-tools">Which tools (names separated by commas, or * for all)</label>
        <input id="policy-tools" required value={tools} onChange={(e) => setTools(e.target.value)} />
        {error !== null && <ErrorBox error={error} title="Not created" />}
        <button type="submit" disabled={busy || !name.trim()}>
          {busy ? 'Creating…' : 'Create policy'}
        </button>
      </form>
      {done && (
        <p className="success" role="status">
          {done}
        </p>
      )}
    </section>
  );
}

export function AccessPoliciesPage({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useLoad(async () => {
    const [policies, keys, servers] = await Promise.all([
      unwrap(client.GET('/access_policies')),
      unwrap(client.GET('/api_keys')),
      unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })),
    ]);
    return { policies: policies.data, keys: keys.data, servers: servers.data };
  }, [client]);
  const { pending: deleting, error, run } = useRowAction();
  const remove = (id: string) =>
    run(id, () => unwrap(client.DELETE('/access_policies/{id}', { params: { path: { id } } })), reload);
  return (
    <>
      <h1>Access policies</h1>
      <p className="hint">
        Allow rules: what no policy grants is denied, except that an API key no policy names keeps access to every
        server of its workspace.
      </p>
      <Show loaded={loaded} what="the access policies">
        {({ policies, keys, servers }) => {
          const principal = (p: Principal) =>
            `${typeLabel(p.type)} ${p.type === 'api_key' ? (keys.find((k) => k.id === p.value)?.name ?? p.value) : p.value}`;
          return (
            <>
              <CreatePolicy client={client} keys={keys} servers={servers} onCreated={reload} />
              <section aria-labelledby="policies-title">
                <h2 id="policies-title">Policies</h2>
                {error !== null && <ErrorBox error={error} title="Not deleted" />}
                {policies.length === 0 ? (
                  <Empty>No access policy: every API key reaches every server of the workspace.</Empty>
                ) : (
                  <table>
                    <caption className="visually-hidden">Access policies of the workspace</caption>
                    <thead>
                      <tr>
                        <th scope="col">Name</th>
                        <th scope="col">Principals</th>
                        <th scope="col">Servers</th>
                        <th scope="col">Tools</th>
                        <th scope="col">Actions</th>
                      </tr>
                    </thead>
                    <tbody>
                      {policies.map((p) => (
                        <tr key={p.id}>
                          <td>{p.name}</td>
                          <td>{p.principals.map(principal).join(', ')}</td>
                          <td>
                            {p.servers.map((id, i) => (
                              <span key={id}>
                                {i > 0 && ', '}
                                {id === '*' ? (
                                  'every server'
                                ) : (
                                  <Link href={`/servers/${id}`}>{servers.find((s) => s.id === id)?.name ?? id}</Link>
                                )}
                              </span>
                            ))}
                          </td>
                          <td>{p.tools.join(', ')}</td>
                          <td>
                            <ConfirmButton
                              label="Delete"
                              name={p.name}
                              question={`Delete ${p.name}? Edges apply it within a second.`}
                              confirmLabel={`Delete ${p.name}`}
                              busy={deleting === p.id}
                              onConfirm={() => remove(p.id)}
                            />
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </section>
            </>
          );
        }}
      </Show>
    </>
  );
}
