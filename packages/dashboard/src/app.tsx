import { lazy, Suspense, useCallback, useEffect, useMemo, useState, type FormEvent, type ReactNode } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { clientFor, errorMessage, storedCredential, storeCredential, unwrap, type Credential } from './api.ts';
import { callbackPath, oauthSettings, useOAuthSettings } from './oauth-settings.ts';
import { beginSamlSignIn, completeSamlSignIn, endSamlSession, samlCallbackPath, samlSettings } from './saml.ts';
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
import { QuotasPage } from './pages/quotas.tsx';
import { ApprovalsPage } from './pages/approvals.tsx';
import { ExternalUsersPage } from './pages/external-users.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { useHeldChanges } from './review-count.ts';
import { Loading, SecretInput } from './ui.tsx';
import { InArea, mayIn, PowersContext, useMayChange, type Access, type Area } from './powers.tsx';

// Pages few sessions open: loaded when first shown, out of the initial JavaScript.
const ExternalUserPage = lazy(() => import('./pages/external-user.tsx').then((m) => ({ default: m.ExternalUserPage })));
const GuardrailsPage = lazy(() => import('./pages/guardrails.tsx').then((m) => ({ default: m.GuardrailsPage })));
const SessionRulesPage = lazy(() => import('./pages/session-rules.tsx').then((m) => ({ default: m.SessionRulesPage })));
const UsagePage = lazy(() => import('./pages/usage.tsx').then((m) => ({ default: m.UsagePage })));
const AuditPage = lazy(() => import('./pages/audit.tsx').then((m) => ({ default: m.AuditPage })));
const AuditExportersPage = lazy(() =>
  import('./pages/audit-exporters.tsx').then((m) => ({ default: m.AuditExportersPage })),
);
const WorkspacesPage = lazy(() => import('./pages/workspaces.tsx').then((m) => ({ default: m.WorkspacesPage })));
const CatalogPage = lazy(() => import('./pages/catalog.tsx').then((m) => ({ default: m.CatalogPage })));
const ServerEditPage = lazy(() => import('./pages/server-edit.tsx').then((m) => ({ default: m.ServerEditPage })));
const ConnectorPage = lazy(() => import('./pages/connector.tsx').then((m) => ({ default: m.ConnectorPage })));
const RegistryPage = lazy(() => import('./pages/registry.tsx').then((m) => ({ default: m.RegistryPage })));
const ReviewPage = lazy(() => import('./pages/review.tsx').then((m) => ({ default: m.ReviewPage })));
const ChangeRequestsPage = lazy(() =>
  import('./pages/change-requests.tsx').then((m) => ({ default: m.ChangeRequestsPage })),
);
const LeastPrivilegePage = lazy(() =>
  import('./pages/least-privilege.tsx').then((m) => ({ default: m.LeastPrivilegePage })),
);
const EventsPage = lazy(() => import('./pages/events.tsx').then((m) => ({ default: m.EventsPage })));
const EnterpriseIdpsPage = lazy(() =>
  import('./pages/enterprise-idps.tsx').then((m) => ({ default: m.EnterpriseIdpsPage })),
);
const ExternalServersPage = lazy(() =>
  import('./pages/external-servers.tsx').then((m) => ({ default: m.ExternalServersPage })),
);

/** The main navigation in groups: what the MCP servers are made of, what runs on them, the workspace's administration. */
/** Each page's area: a page is listed when the caller's roles read it. */
const navGroups: { label: string; links: { href: string; label: string; area: Area }[] }[] = [
  {
    label: 'Build',
    links: [
      { href: '/servers', label: 'MCP servers', area: 'servers' },
      { href: '/connectors', label: 'Connectors', area: 'connectors' },
      { href: '/catalog', label: 'API catalog', area: 'connectors' },
      { href: '/instances', label: 'Connector instances', area: 'connectors' },
      { href: '/external-servers', label: 'External MCP servers', area: 'servers' },
      { href: '/review', label: 'Review', area: 'servers' },
      { href: '/registry', label: 'MCP Registry', area: 'servers' },
      { href: '/workflows', label: 'Workflows', area: 'servers' },
      { href: '/secrets', label: 'Secrets', area: 'secrets' },
    ],
  },
  {
    label: 'Run',
    links: [
      { href: '/', label: 'Overview', area: 'usage' },
      { href: '/usage', label: 'Usage', area: 'usage' },
      { href: '/records', label: 'Execution records', area: 'records' },
      { href: '/events', label: 'Events', area: 'records' },
      { href: '/external-users', label: 'External users', area: 'people' },
      { href: '/enterprise-idps', label: 'Enterprise IdPs', area: 'people' },
      { href: '/access-policies', label: 'Access policies', area: 'policies' },
      { href: '/quotas', label: 'Quotas', area: 'policies' },
      { href: '/guardrails', label: 'Guardrails', area: 'policies' },
      { href: '/session-rules', label: 'Session rules', area: 'policies' },
      { href: '/least-privilege', label: 'Least privilege', area: 'trail' },
      { href: '/approvals', label: 'Approvals', area: 'approvals' },
      { href: '/change-requests', label: 'Change requests', area: 'approvals' },
    ],
  },
  {
    label: 'Admin',
    links: [
      { href: '/api-keys', label: 'API keys', area: 'keys' },
      { href: '/audit', label: 'Audit trail', area: 'trail' },
      { href: '/workspaces', label: 'Workspaces', area: 'workspaces' },
    ],
  },
];
const nav = navGroups.flatMap((g) => g.links);

/**
 * The area of the page at `section` (a path's first segment): its navigation link's. Every page under it is in that
 * area (`/servers/x/edit` in `servers`, `/audit/exporters` in `trail`): what changes things there shows only to those
 * who may change the area (`powers.tsx`).
 */
function areaOfSection(section: string): Area | null {
  return nav.find((n) => n.href === section)?.area ?? null;
}

/**
 * The end of an OAuth sign-in (the issuer sent the user back to /oauth/callback): completed once per page load,
 * before anything renders, so that the one-use code is redeemed exactly once.
 */
const callback: Promise<{ credential: Credential; returnTo: string }> | undefined = (() => {
  const settings = oauthSettings();
  if (window.location.pathname === samlCallbackPath)
    // The end of a SAML sign-in (ADR 0083): the control plane's one-time code for the session's token, the same way.
    return completeSamlSignIn(new URL(window.location.href)).then(async (done) => {
      await unwrap(clientFor(done.credential).POST('/sign_ins'));
      return done;
    });
  if (window.location.pathname !== callbackPath) return undefined;
  if (!settings) return Promise.reject(new Error('OAuth sign-in is not configured on this control plane.'));
  return import('./oauth.ts').then(async (m) => {
    const done = await m.completeSignIn(settings, new URL(window.location.href));
    // The control plane must accept the token (its audience, scopes, workspace) before the tab counts as signed in;
    // the sign-in is recorded in the audit trail.
    await unwrap(clientFor(done.credential).POST('/sign_ins'));
    return done;
  });
})();

/** SAML sign-in (ADR 0083): leaves for the identity provider through the control plane's AuthnRequest. */
function SamlSignInSection({ idp, busy, onBusy }: { idp: string; busy: boolean; onBusy: () => void }) {
  const start = () => {
    onBusy();
    const here = window.location.pathname + window.location.search;
    beginSamlSignIn(here === samlCallbackPath ? '/' : here);
  };
  return (
    <section aria-labelledby="signin-saml">
      <h2 id="signin-saml">Single sign-on (SAML)</h2>
      <p>
        Sign in at <code>{idp}</code>; you come back here signed in to your workspace.
      </p>
      <button type="button" disabled={busy} onClick={start}>
        Sign in with SAML
      </button>
    </section>
  );
}

function SignIn({ onSignIn, notice }: { onSignIn: (c: Credential) => void; notice: string | null }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(notice);
  const [busy, setBusy] = useState(false);
  const { settings: oauth, unavailable } = useOAuthSettings();
  const saml = samlSettings();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const credential: Credential = { kind: 'key', key: key.trim() };
    unwrap(clientFor(credential).POST('/sign_ins')).then(
      () => onSignIn(credential),
      (err: unknown) => {
        setError(errorMessage(err));
        setBusy(false);
      },
    );
  };
  const signInWithIssuer = () => {
    if (!oauth) return;
    setBusy(true);
    setError(null);
    const here = window.location.pathname + window.location.search;
    import('./oauth.ts')
      .then((m) => m.beginSignIn(oauth, here === callbackPath ? '/' : here))
      .catch((err: unknown) => {
        setError(errorMessage(err));
        setBusy(false);
      });
  };
  return (
    <main className="signin">
      <h1>Toolplane</h1>
      {oauth && (
        <section aria-labelledby="signin-oauth">
          <h2 id="signin-oauth">Your organisation’s account</h2>
          <p>
            Sign in at <code>{new URL(oauth.issuer).host}</code>; you come back here signed in to your workspace.
          </p>
          <button type="button" onClick={signInWithIssuer} disabled={busy}>
            Sign in with {new URL(oauth.issuer).host}
          </button>
        </section>
      )}
      {saml && <SamlSignInSection idp={saml.idp} busy={busy} onBusy={() => setBusy(true)} />}
      {unavailable && (
        <p className="notice" role="status">
          Sign-in with your organisation’s account is unavailable right now: {unavailable}
        </p>
      )}
      <form onSubmit={submit} aria-describedby="signin-help">
        {(oauth || saml) && <h2>Or an API key</h2>}
        <p id="signin-help">Sign in with an API key of your workspace. It is kept in this tab only.</p>
        <label htmlFor="api-key">API key</label>
        <SecretInput id="api-key" autoComplete="off" required value={key} onValue={setKey} />
        <button type="submit" disabled={busy || key.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </main>
  );
}

/** The callback page while the code is redeemed; then the page the sign-in started from, or the error. */
function CompleteSignIn({ onSignIn, onFail }: { onSignIn: (c: Credential) => void; onFail: (why: string) => void }) {
  useEffect(() => {
    let live = true;
    callback!.then(
      ({ credential, returnTo }) => {
        if (!live) return;
        navigate(returnTo, { replace: true }); // the code leaves the address bar and the history
        onSignIn(credential);
      },
      (err: unknown) => {
        if (!live) return;
        navigate('/', { replace: true });
        onFail(errorMessage(err));
      },
    );
    return () => {
      live = false;
    };
  }, [onSignIn, onFail]);
  return (
    <main className="signin">
      <Loading what="your sign-in" />
    </main>
  );
}

/** A page that only changes things (create, edit): a word instead of its form for those who may only read. */
function ChangePage({ children }: { children: ReactNode }) {
  if (useMayChange()) return <>{children}</>;
  return (
    <>
      <h1>Read only</h1>
      <p>
        Your roles let you read this part of the workspace, not change it.{' '}
        <Link href="/servers">Go to the MCP servers</Link>.
      </p>
    </>
  );
}

function Page({ path, client }: { path: string; client: ManagementClient }) {
  const pathname = path.split('?')[0] ?? '/';
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [first, second, third] = parts;
  if (first === 'servers' && second === 'new')
    return (
      <ChangePage>
        <ServerCreatePage client={client} />
      </ChangePage>
    );
  if (first === 'servers' && second && third === 'edit')
    return (
      <ChangePage>
        <ServerEditPage client={client} id={second} />
      </ChangePage>
    );
  if (first === 'servers' && second) return <ServerPage client={client} id={second} />;
  if (first === 'external-servers') return <ExternalServersPage client={client} />;
  if (first === 'registry') return <RegistryPage client={client} />;
  if (first === 'review') return <ReviewPage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'connectors' && second) return <ConnectorPage client={client} id={second} />;
  if (first === 'connectors') return <ConnectorsPage client={client} />;
  if (first === 'catalog') return <CatalogPage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'instances') return <InstancesPage client={client} />;
  if (first === 'workflows')
    return <WorkflowsPage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'records' && second) return <RecordPage client={client} id={second} />;
  if (first === 'records') return <RecordsPage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'events') return <EventsPage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'api-keys') return <ApiKeysPage client={client} />;
  if (first === 'secrets') return <SecretsPage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'access-policies') return <AccessPoliciesPage client={client} />;
  if (first === 'quotas') return <QuotasPage client={client} />;
  if (first === 'guardrails') return <GuardrailsPage client={client} />;
  if (first === 'session-rules') return <SessionRulesPage client={client} />;
  if (first === 'change-requests')
    return <ChangeRequestsPage client={client} id={second} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'least-privilege')
    return <LeastPrivilegePage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'approvals')
    return <ApprovalsPage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'external-users' && second) return <ExternalUserPage client={client} name={second} />;
  if (first === 'external-users') return <ExternalUsersPage client={client} />;
  if (first === 'enterprise-idps') return <EnterpriseIdpsPage client={client} />;
  if (first === 'workspaces') return <WorkspacesPage client={client} />;
  if (first === 'usage') return <UsagePage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'audit' && second === 'exporters') return <AuditExportersPage client={client} />;
  if (first === 'audit') return <AuditPage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  if (first === 'servers') return <ServersPage client={client} />;
  if (parts.length === 0) return <OverviewPage client={client} query={new URLSearchParams(path.split('?')[1] ?? '')} />;
  return (
    <>
      <h1>Not found</h1>
      <p>
        No page at <code>{pathname}</code>. <Link href="/servers">Go to the MCP servers</Link>.
      </p>
    </>
  );
}

/** The session's workspace and who the caller is there (`GET /workspaces/current`): its name, the caller's powers. */
function useCurrentWorkspace(client: ManagementClient | null): { name: string; access: Access } | null {
  const [current, setCurrent] = useState<{ name: string; access: Access } | null>(null);
  useEffect(() => {
    let live = true;
    setCurrent(null);
    if (!client) return;
    unwrap(client.GET('/workspaces/current')).then(
      (w) => live && setCurrent({ name: w.name, access: w.you.access }),
      () => live && setCurrent(null),
    );
    return () => {
      live = false;
    };
  }, [client]);
  return current;
}

/** The session's workspace, in the header: which workspace every page acts on. */
function CurrentWorkspace({ name }: { name: string | undefined }) {
  if (name === undefined) return null;
  return (
    <Link href="/workspaces" className="workspace">
      <span className="workspace-label">Workspace</span> {name}
    </Link>
  );
}

/**
 * Where a caller lands (the address `/`): the overview for those who read the traffic, else the first page their
 * roles or scopes read (an approver: Approvals); null while unknown or when `/` is theirs.
 */
function landing(access: Access): string | null {
  if (mayIn(access, 'usage', 'read')) return null;
  return nav.find((n) => mayIn(access, n.area, 'read'))?.href ?? null;
}

/** The navigation's groups with the pages the caller's roles read (all of them while unknown). */
function shownNav(access: Access | null) {
  return navGroups
    .map((g) => ({ ...g, links: g.links.filter((l) => mayIn(access, l.area, 'read')) }))
    .filter((g) => g.links.length > 0);
}

/** The header: the main navigation, the session's workspace and user, and signing out. */
function TopBar({
  client,
  current,
  credential,
  section,
  onSignOut,
}: {
  client: ManagementClient;
  current: { name: string; access: Access } | null;
  credential: Credential;
  section: string;
  onSignOut: () => void;
}) {
  const held = useHeldChanges(client, section, current !== null && mayIn(current.access, 'servers', 'read'));
  return (
    <header className="top">
      <span className="brand">Toolplane</span>
      <nav aria-label="Main">
        {shownNav(current?.access ?? null).map((g) => (
          <div key={g.label} className="nav-group">
            <span className="nav-group-label" id={`nav-${g.label.toLowerCase()}`}>
              {g.label}
            </span>
            <ul aria-labelledby={`nav-${g.label.toLowerCase()}`}>
              {g.links.map((n) => (
                <li key={n.href}>
                  <Link href={n.href} aria-current={section === n.href ? 'page' : undefined}>
                    {n.label}
                    {n.href === '/review' && held !== null && held > 0 && (
                      <>
                        {' '}
                        <span className="nav-count">
                          {held}
                          <span className="visually-hidden"> held</span>
                        </span>
                      </>
                    )}
                  </Link>
                </li>
              ))}
            </ul>
          </div>
        ))}
      </nav>
      <CurrentWorkspace name={current?.name} />
      {credential.kind === 'token' && credential.subject && (
        <span className="who" title="Signed in with your organisation’s account">
          {credential.subject}
        </span>
      )}
      <button type="button" className="secondary" onClick={onSignOut}>
        Sign out
      </button>
    </header>
  );
}

export function App() {
  const [credential, setCredential] = useState<Credential | null>(storedCredential);
  const [notice, setNotice] = useState<string | null>(null);
  const [completing, setCompleting] = useState(callback !== undefined);
  const path = usePath();
  const client = useMemo(() => (credential ? clientFor(credential) : null), [credential]);
  const current = useCurrentWorkspace(client);
  const section = '/' + (path.split('/')[1]?.split('?')[0] ?? '');
  useEffect(() => {
    const label = nav.find((n) => n.href === section)?.label;
    document.title = label ? `${label} · Toolplane` : 'Toolplane';
  }, [section]);
  const signIn = useCallback((c: Credential) => {
    storeCredential(c);
    setNotice(null);
    setCompleting(false);
    setCredential(c);
  }, []);
  const signInFailed = useCallback((why: string) => {
    setNotice(why);
    setCompleting(false);
  }, []);
  // A user's access token ends: back to the sign-in page, saying why (nothing is refreshed behind their back).
  const expiresAt = credential?.kind === 'token' ? credential.expiresAt : undefined;
  useEffect(() => {
    if (expiresAt === undefined) return;
    const timer = setTimeout(
      () => {
        storeCredential(null);
        setCredential(null);
        setNotice('Your sign-in has expired: sign in again.');
      },
      Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1),
    );
    return () => clearTimeout(timer);
  }, [expiresAt]);
  const landAt = current && section === '/' && path.split('?')[0] === '/' ? landing(current.access) : null;
  useEffect(() => {
    if (landAt) navigate(landAt, { replace: true });
  }, [landAt]);
  if (completing) return <CompleteSignIn onSignIn={signIn} onFail={signInFailed} />;
  if (!client || !credential) return <SignIn onSignIn={signIn} notice={notice} />;
  const signOut = () => {
    endSamlSession(credential);
    storeCredential(null);
    setCredential(null);
    navigate('/');
  };
  return (
    <>
      <PowersContext value={current?.access ?? null}>
        <TopBar client={client} current={current} credential={credential} section={section} onSignOut={signOut} />
        <main>
          {section === '/' && (current === null || landAt) ? (
            // The overview waits for the caller's powers: it is not everyone's first page.
            <Loading what="your workspace" />
          ) : (
            <Suspense fallback={<Loading what="the page" />}>
              <InArea area={areaOfSection(section)}>
                <Page path={path} client={client} />
              </InArea>
            </Suspense>
          )}
        </main>
      </PowersContext>
    </>
  );
}
