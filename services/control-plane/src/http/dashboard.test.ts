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
