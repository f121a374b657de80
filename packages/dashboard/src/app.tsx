import { lazy, Suspense, useEffect, useMemo, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { clientFor, errorMessage, storedKey, storeKey, unwrap } from './api.ts';
import { Link, navigate, usePath } from './router.tsx';
import { ConnectorsPage } from './pages/connectors.tsx';
import { InstancesPage } from './pages/instances.tsx';
import { RecordPage, RecordsPage } from './pages/records.tsx';
import { ServerCreatePage } from './pages/server-create.tsx';
import { ServerPage } from './pages/server.tsx';
import { ServersPage } from './pages/servers.tsx';
import { WorkflowsPage } from './pages/workflows.tsx';
import { ApiKeysPage } from './pages/api-keys.tsx';
import { SecretsPage } from './pages/secrets.tsx';
import { AccessPoliciesPage } from './pages/access-policies.tsx';
import { ExternalUsersPage } from './pages/external-users.tsx';
import { Loading } from './ui.tsx';

// Pages few sessions open: loaded when first shown, out of the initial JavaScript.
const ExternalUserPage = lazy(() => import('./pages/external-user.tsx').then((m) => ({ default: m.ExternalUserPage })));
const WorkspacesPage = lazy(() => import('./pages/workspaces.tsx').then((m) => ({ default: m.WorkspacesPage })));

/** The main navigation in groups: what the MCP servers are made of, what runs on them, the workspace's administration. */
const navGroups: { label: string; links: { href: string; label: string }[] }[] = [
  {
    label: 'Build',
    links: [
      { href: '/servers', label: 'MCP servers' },
      { href: '/connectors', label: 'Connectors' },
      { href: '/instances', label: 'Connector instances' },
      { href: '/workflows', label: 'Workflows' },
      { href: '/secrets', label: 'Secrets' },
    ],
  },
  {
    label: 'Run',
    links: [
      { href: '/records', label: 'Execution records' },
      { href: '/external-users', label: 'External users' },
      { href: '/access-policies', label: 'Access policies' },
    ],
  },
  {
    label: 'Admin',
    links: [
      { href: '/api-keys', label: 'API keys' },
      { href: '/workspaces', label: 'Workspaces' },
    ],
  },
];
const nav = navGroups.flatMap((g) => g.links);

function SignIn({ onSignIn }: { onSignIn: (key: string) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    unwrap(clientFor(key.trim()).GET('/workspaces/current')).then(
      () => onSignIn(key.trim()),
      (err: unknown) => {
        setError(errorMessage(err));
        setBusy(false);
      },
    );
  };
  return (
    <main className="signin">
      <h1>Toolplane</h1>
      <form onSubmit={submit} aria-describedby="signin-help">
        <p id="signin-help">Sign in with an API key of your workspace. It is kept in this tab only.</p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          required
          value={key}
          onChange={(e) => setKey(e.target.value)}
        />
        <button type="submit" disabled={busy || key.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function Page({ path, client }: { path: string; client: ManagementClient }) {
  const pathname = path.split('?')[0] ?? '/';
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [first, second] = parts;
  if (first === 'servers' && second === 'new') return <ServerCreatePage client={client} />;
  if (first === 'servers' && second) return <ServerPage client={client} id={second} />;
  if (first === 'connectors') return <ConnectorsPage client={client} />;
  if (first === 'instances') return <InstancesPage client={client} />;
  if (first === 'workflows')
    return <WorkflowsPage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'records' && second) return <RecordPage client={client} id={second} />;
  if (first === 'records') return <RecordsPage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'api-keys') return <ApiKeysPage client={client} />;
  if (first === 'secrets') return <SecretsPage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'access-policies') return <AccessPoliciesPage client={client} />;
  if (first === 'external-users' && second) return <ExternalUserPage client={client} name={second} />;
  if (first === 'external-users') return <ExternalUsersPage client={client} />;
  if (first === 'workspaces') return <WorkspacesPage client={client} />;
  if (first === 'servers' || parts.length === 0) return <ServersPage client={client} />;
  return (
    <>
      <h1>Not found</h1>
      <p>
        No page at <code>{pathname}</code>. <Link href="/servers">Go to the MCP servers</Link>.
      </p>
    </>
  );
}

/** The session's workspace, in the header: which workspace every page acts on. */
function CurrentWorkspace({ client }: { client: ManagementClient }) {
  const [name, setName] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    unwrap(client.GET('/workspaces/current')).then(
      (w) => live && setName(w.name),
      () => live && setName(null),
    );
    return () => {
      live = false;
    };
  }, [client]);
  if (name === null) return null;
  return (
    <Link href="/workspaces" className="workspace">
      <span className="workspace-label">Workspace</span> {name}
    </Link>
  );
}

export function App() {
  const [apiKey, setApiKey] = useState<string | null>(storedKey);
  const path = usePath();
  const client = useMemo(() => (apiKey ? clientFor(apiKey) : null), [apiKey]);
  const section = '/' + (path.split('/')[1]?.split('?')[0] ?? '');
  useEffect(() => {
    const label = nav.find((n) => n.href === section)?.label;
    document.title = label ? `${label} · Toolplane` : 'Toolplane';
  }, [section]);
  if (!client) {
    return (
      <SignIn
        onSignIn={(key) => {
          storeKey(key);
          setApiKey(key);
        }}
      />
    );
  }
  const signOut = () => {
    storeKey(null);
    setApiKey(null);
    navigate('/');
  };
  return (
    <>
      <header className="top">
        <span className="brand">Toolplane</span>
        <nav aria-label="Main">
          {navGroups.map((g) => (
            <div key={g.label} className="nav-group">
              <span className="nav-group-label" id={`nav-${g.label.toLowerCase()}`}>
                {g.label}
              </span>
              <ul aria-labelledby={`nav-${g.label.toLowerCase()}`}>
                {g.links.map((n) => (
                  <li key={n.href}>
                    <Link href={n.href} aria-current={section === n.href ? 'page' : undefined}>
                      {n.label}
                    </Link>
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </nav>
        <CurrentWorkspace client={client} />
        <button type="button" className="secondary" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        <Suspense fallback={<Loading what="the page" />}>
          <Page path={path} client={client} />
        </Suspense>
      </main>
    </>
  );
}
