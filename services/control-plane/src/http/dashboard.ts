import { existsSync } from 'node:fs';
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
 */
export function dashboardRouter(opts: { dir?: string | undefined; edgeUrl: string }): Router {
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
    if (/^\/[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(req.path) && existsSync(join(dir, req.path)))
      return res.sendFile(join(dir, req.path));
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(index);
  });
  return r;
}
