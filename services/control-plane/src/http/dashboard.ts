import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';

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
 * origin needs nothing of the policy.
 */
export function dashboardRouter(opts: {
  dir?: string | undefined;
  edgeUrl: string;
  jaegerUiUrl?: string | undefined;
}): Router {
  const dir = opts.dir ?? defaultBuild();
  const r = Router();
  const index = join(dir, 'index.html');
  const policy = [
    "default-src 'self'",
    "img-src 'self' data:",
    "style-src 'self' 'unsafe-inline'",
    `connect-src 'self' ${new URL(opts.edgeUrl).origin}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
  const headers = (res: express.Response) => {
    res.setHeader('content-security-policy', policy);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
  };
  const built = () => existsSync(index);
  const metas = opts.jaegerUiUrl ? `<meta name="toolplane-jaeger-ui" content="${escapeHtml(opts.jaegerUiUrl)}">` : '';
  /** `index.html` with the settings (read at every request: a new build is seen at once). */
  const page = async () => {
    const html = await readFile(index, 'utf8');
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
    void page().then((html) => res.type('html').send(html), next);
  });
  return r;
}

/** Text as the value of a double-quoted HTML attribute. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
