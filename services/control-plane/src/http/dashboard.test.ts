import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { dashboardRouter } from './dashboard.ts';

let server: Server;
let base: string;
const build = mkdtempSync(join(tmpdir(), 'dashboard-build-'));
const missing = join(build, 'nothing-here');
/** A Jaeger UI URL with everything an attribute value must escape. */
const jaeger = 'https://jaeger.example/ui?a=1&b="x"><script>alert(1)</script>\'$&';

beforeAll(async () => {
  writeFileSync(join(build, 'index.html'), '<!doctype html><html><head><title>Toolplane</title></head></html>');
  writeFileSync(join(build, 'favicon.svg'), '<svg/>');
  mkdirSync(join(build, 'assets'));
  writeFileSync(join(build, 'assets', 'index-abc123.js'), 'console.log(1)');
  const app = express();
  app.get('/api/v1/thing', (_req, res) => void res.json({ ok: true }));
  app.use('/unbuilt', dashboardRouter({ dir: missing, edgeUrl: 'http://127.0.0.1:8080' }));
  app.use('/traced', dashboardRouter({ dir: build, edgeUrl: 'http://127.0.0.1:8080', jaegerUiUrl: jaeger }));
  app.use('/oauth-ok', dashboardRouter({ dir: build, edgeUrl: 'http://127.0.0.1:8080', oauth: oauth(discovered) }));
  app.use('/oauth-down', dashboardRouter({ dir: build, edgeUrl: 'http://127.0.0.1:8080', oauth: oauth(unreachable) }));
  app.use(dashboardRouter({ dir: build, edgeUrl: 'http://127.0.0.1:8080/' }));
  app.use((_req, res) => void res.status(404).type('application/problem+json').send('{"status":404}'));
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const html = { accept: 'text/html' };

/** Issuer metadata as AuthorizationServerDiscovery finds it, or its failure. */
const discovered = async () => ({
  authorization_endpoint: 'https://login.example/authorize',
  token_endpoint: 'https://tokens.example:8443/oauth/token',
});
const unreachable = async (): Promise<never> => {
  throw new Error(
    'the OAuth issuer\'s metadata could not be read (https://login.example/.well-known/…: HTTP 503) "<b>"',
  );
};
function oauth(endpoints: () => Promise<{ authorization_endpoint: string; token_endpoint: string }>) {
  return {
    issuer: 'https://login.example',
    clientId: 'toolplane-dashboard',
    scopes: 'openid toolplane:management',
    resource: 'https://toolplane.example/api',
    scopePrefix: 'toolplane:',
    discovery: { endpoints },
  };
}

/** The `content` of `<meta name="…">` in `page`, unescaped. */
function metaOf(page: string, name: string): string | undefined {
  const m = new RegExp(`<meta name="${name}" content="([^"]*)">`).exec(page);
  return m?.[1]?.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
}

describe('the dashboard at /', () => {
  it('serves index.html for / and for client routes, never cached, with a same-origin policy', async () => {
    for (const path of ['/', '/servers', '/records/5f0c']) {
      const res = await fetch(base + path, { headers: html });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<title>Toolplane</title>');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toBe(
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
          "connect-src 'self' http://127.0.0.1:8080; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      );
    }
  });

  it('puts JAEGER_UI_URL into index.html as an escaped <meta>, and nothing when it is unset', async () => {
    for (const path of ['/traced/', '/traced/records/5f0c', '/traced/index.html']) {
      const res = await fetch(base + path, { headers: html });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const text = await res.text();
      expect(text).toBe(
        '<!doctype html><html><head><title>Toolplane</title>' +
          '<meta name="toolplane-jaeger-ui" content="https://jaeger.example/ui?a=1&#38;b=&#34;x&#34;&#62;' +
          '&#60;script&#62;alert(1)&#60;/script&#62;&#39;$&#38;"></head></html>',
      );
      expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    }
    for (const path of ['/', '/index.html']) {
      const res = await fetch(base + path, { headers: html });
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(await res.text()).not.toContain('toolplane-jaeger-ui');
    }
  });

  it('serves hashed assets cached for a year, and top-level files as they are', async () => {
    const asset = await fetch(`${base}/assets/index-abc123.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await (await fetch(`${base}/favicon.svg`, { headers: html })).text()).toBe('<svg/>');
  });

  it('leaves the API and non-HTML requests alone, and serves nothing outside the build', async () => {
    expect(await (await fetch(`${base}/api/v1/thing`, { headers: html })).json()).toEqual({ ok: true });
    const unknownApi = await fetch(`${base}/api/v1/nope`, { headers: html });
    expect(unknownApi.status).toBe(404);
    expect(unknownApi.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await fetch(`${base}/servers`, { headers: { accept: 'application/json' } })).status).toBe(404);
    expect((await fetch(`${base}/assets/missing.js`)).status).toBe(404);
    for (const path of ['/..', '/%2e%2e', '/.env', '/assets/..%2f..%2fetc%2fpasswd']) {
      const res = await fetch(base + path, { headers: html });
      expect(await res.text()).not.toContain('root:');
      expect([200, 404]).toContain(res.status);
    }
  });

  it('says how to build it when there is no build', async () => {
    const res = await fetch(`${base}/unbuilt/`, { headers: html });
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('pnpm --filter @toolplane/dashboard build');
  });
});

describe('OAuth sign-in settings in the page', () => {
  it('gives the issuer, its endpoints, client, scopes and resource, and lets the page reach the token endpoint only', async () => {
    const res = await fetch(`${base}/oauth-ok/records`, { headers: html });
    expect(res.status).toBe(200);
    const settings = JSON.parse(metaOf(await res.text(), 'toolplane-oauth') ?? 'null') as unknown;
    expect(settings).toEqual({
      issuer: 'https://login.example',
      client_id: 'toolplane-dashboard',
      scope: 'openid toolplane:management',
      resource: 'https://toolplane.example/api',
      scope_prefix: 'toolplane:',
      authorization_endpoint: 'https://login.example/authorize',
      token_endpoint: 'https://tokens.example:8443/oauth/token',
    });
    // The authorization endpoint is a navigation (no policy needed); the token endpoint is fetched.
    expect(res.headers.get('content-security-policy')).toContain(
      "connect-src 'self' http://127.0.0.1:8080 https://tokens.example:8443;",
    );
  });

  it('says why OAuth sign-in is unavailable when the issuer cannot be read, escaped, and allows nothing more', async () => {
    const res = await fetch(`${base}/oauth-down/`, { headers: html });
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(metaOf(page, 'toolplane-oauth')).toBeUndefined();
    expect(metaOf(page, 'toolplane-oauth-error')).toContain('HTTP 503) "<b>"');
    expect(page).not.toContain('"<b>"');
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self' http://127.0.0.1:8080;");
  });

  it('puts no OAuth settings into the page of a deployment without an issuer', async () => {
    const page = await (await fetch(`${base}/`, { headers: html })).text();
    expect(page).not.toContain('toolplane-oauth');
  });
});
