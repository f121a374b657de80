import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';
import type { AuthorizationServerDiscovery } from './oauth.ts';

/** OAuth sign-in settings the dashboard gets (ADR 0020): who to ask, as which client, for what. */
export interface DashboardOAuth {
  issuer: string;
  clientId: string;
  scopes: string;
  /** The RFC 8707 `resource` asked for: the control plane's audience. */
  resource: string;
  /** Token scopes are API-key scopes with this prefix (the dashboard's hints of what the user may do). */
  scopePrefix: string;
  discovery: Pick<AuthorizationServerDiscovery, 'endpoints'>;
}

/**
 * Where the dashboard's build is when `DASHBOARD_DIR` is not set: next to the compiled service (`dashboard/`
 * of scripts/build-service.sh's output, what the image runs), else in a clone (`packages/dashboard/dist`).
 */
const builds = [
  fileURLToPath(new URL('../../dashboard', import.meta.url)),
  fileURLToPath(new URL('../../../../packages/dashboard/dist', import.meta.url)),
];
const defaultBuild = () => builds.find((dir) => existsSync(join(dir, 'index.html'))) ?? builds[1]!;

/**
 * The web dashboard (`packages/dashboard`, a static single-page app) at `/`, same origin as the API it calls
 * with the operator's key. Hashed assets are cached for a year, `index.html` never (a deployment's new build
 * is seen at once); any other GET that wants HTML gets `index.html` (client-side routes). Nothing under
 * `/api/` is ever answered here. The policy allows scripts, styles and requests from this origin only, plus
 * MCP calls to the edge ("Try a tool"), and no framing.
 *
 * Settings the app needs before any API call (and without one) go into `index.html` as `<meta>` elements:
 * `toolplane-jaeger-ui` (JAEGER_UI_URL) when set, so that a record links to its trace. A plain link to another
 * origin needs nothing of the policy. With OAuth sign-in (`oauth`), `toolplane-oauth` carries the issuer, its
 * endpoints (discovered here), the client id, scopes and resource, and the policy allows requests to the token
 * endpoint; while the issuer's metadata cannot be read, `toolplane-oauth-error` says why (API keys still work).
 */
export function dashboardRouter(opts: {
  dir?: string | undefined;
  edgeUrl: string;
  jaegerUiUrl?: string | undefined;
  oauth?: DashboardOAuth | undefined;
  /** SAML sign-in (ADR 0083): `toolplane-saml` names the identity provider; the button starts at `/saml/login`. */
  saml?: { idp: string } | undefined;
}): Router {
  const dir = opts.dir ?? defaultBuild();
  const r = Router();
  const index = join(dir, 'index.html');
  const policy = (connect: string[] = []) => contentSecurityPolicy(opts.edgeUrl, connect);
  const headers = (res: express.Response) => {
    res.setHeader('content-security-policy', policy());
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
  };
  const built = () => existsSync(index);
  /** `index.html` with the settings (read at every request: a new build is seen at once), and its policy. */
  const page = async (res: express.Response) => {
    const html = await readFile(index, 'utf8');
    const oauth = await oauthSettings(opts.oauth);
    res.setHeader('content-security-policy', policy(oauth.connect));
    const metas =
      (opts.jaegerUiUrl ? meta('toolplane-jaeger-ui', opts.jaegerUiUrl) : '') +
      oauth.meta +
      (opts.saml ? meta('toolplane-saml', JSON.stringify(opts.saml)) : '');
    if (!metas) return html;
    return /<\/head>/i.test(html) ? html.replace(/<\/head>/i, (end) => metas + end) : metas + html;
  };
  r.use((req, res, next) => {
    if (req.path.startsWith('/api/') || !built()) return next();
    headers(res);
    next();
  });
  r.use(
    '/assets',
    express.static(join(dir, 'assets'), { immutable: true, maxAge: '365d', index: false, fallthrough: true }),
  );
  r.get(/^\/(?!api\/|assets\/).*/, (req, res, next) => {
    if (!req.accepts('html')) return next();
    if (!built()) {
      res
        .status(404)
        .type('text/plain')
        .send('The dashboard is not built: run `pnpm --filter @toolplane/dashboard build` (scripts/dev.sh does).');
      return;
    }
    // Top-level files of the build (favicon, …) as they are (plain names only: no `..`, no dotfiles);
    // everything else is a client route.
    if (
      /^\/[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(req.path) &&
      req.path !== '/index.html' &&
      existsSync(join(dir, req.path))
    )
      return res.sendFile(join(dir, req.path));
    res.setHeader('cache-control', 'no-cache');
    void page(res).then((html) => res.type('html').send(html), next);
  });
  return r;
}

/** The dashboard's Content-Security-Policy: its own origin, the edge ("Try a tool"), and `connect` (a token endpoint). */
function contentSecurityPolicy(edgeUrl: string, connect: string[]): string {
  return [
    "default-src 'self'",
    "img-src 'self' data:",
    "style-src 'self' 'unsafe-inline'",
    `connect-src ${["'self'", new URL(edgeUrl).origin, ...connect].join(' ')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

function meta(name: string, content: string): string {
  return `<meta name="${name}" content="${escapeHtml(content)}">`;
}

/** The OAuth settings' `<meta>` and the origin the page may then fetch tokens from. */
async function oauthSettings(o: DashboardOAuth | undefined): Promise<{ meta: string; connect: string[] }> {
  if (!o) return { meta: '', connect: [] };
  try {
    const endpoints = await o.discovery.endpoints();
    const settings = {
      issuer: o.issuer,
      client_id: o.clientId,
      scope: o.scopes,
      resource: o.resource,
      scope_prefix: o.scopePrefix,
      ...endpoints,
    };
    return {
      meta: meta('toolplane-oauth', JSON.stringify(settings)),
      connect: [new URL(endpoints.token_endpoint).origin],
    };
  } catch (err) {
    return { meta: meta('toolplane-oauth-error', err instanceof Error ? err.message : String(err)), connect: [] };
  }
}

/** Text as the value of a double-quoted HTML attribute. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
