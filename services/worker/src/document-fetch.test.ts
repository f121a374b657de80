import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDocumentFetchHandler } from './document-fetch.ts';
import { createWebhookPostHandler } from './webhook-post.ts';
import { configureOutbound, denyAllPrivate, outboundSettings, parseOutboundAllow } from './outbound-guard.ts';

let server: Server;
let base: string;
const hits: string[] = [];
const hooked: { type: string | undefined; body: string }[] = [];
const saved = outboundSettings();

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.method === 'POST' && req.url === '/hook/t0k3n') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hooked.push({ type: req.headers['content-type'], body });
        res.writeHead(204).end();
      });
      return;
    }
    switch (req.url) {
      case '/doc.yaml':
        return void res.writeHead(200, { 'content-type': 'application/yaml' }).end('openapi: 3.1.0\n');
      case '/big':
        return void res.writeHead(200).end('x'.repeat(4096));
      case '/latin1':
        return void res.writeHead(200).end(Buffer.from([0xff, 0xfe, 0x41]));
      case '/missing':
        return void res.writeHead(404).end('no');
      case '/loop':
        return void res.writeHead(302, { location: '/loop' }).end();
      case '/to-doc':
        return void res.writeHead(301, { location: '/doc.yaml' }).end();
      case '/to-private':
        return void res.writeHead(302, { location: 'https://10.1.2.3/doc.yaml' }).end();
      case '/to-plain-http':
        return void res.writeHead(302, { location: 'http://docs.example.com/doc.yaml' }).end();
      default:
        return void res.writeHead(500).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  configureOutbound({ policy: parseOutboundAllow('127.0.0.1'), maxRedirects: 3 });
});

afterAll(async () => {
  configureOutbound(saved);
  await new Promise<void>((r) => server.close(() => r()));
});

const fetchDocument = createDocumentFetchHandler({ timeoutMs: 5_000 });
const task = (url: string, maxBytes = 1024) => ({
  v: 1 as const,
  taskId: 't',
  kind: 'document.fetch' as const,
  url,
  maxBytes,
  deadlineAt: Date.now() + 5_000,
  replyTo: 'r',
});

describe('document.fetch', () => {
  it('fetches a document over plain http only from a host OUTBOUND_ALLOW lists, following redirects', async () => {
    expect(await fetchDocument(task(`${base}/doc.yaml`))).toMatchObject({
      ok: true,
      content: 'openapi: 3.1.0\n',
      contentType: 'application/yaml',
      finalUrl: `${base}/doc.yaml`,
    });
    expect(await fetchDocument(task(`${base}/to-doc`))).toMatchObject({ ok: true, finalUrl: `${base}/doc.yaml` });
  });

  it.each([
    [
      'plain http elsewhere',
      'http://docs.example.com/doc.yaml',
      'is plain http; documents are fetched over https only',
    ],
    ['another scheme', 'ftp://docs.example.com/doc.yaml', 'the scheme "ftp:" is not allowed'],
    ['a private address', 'https://10.1.2.3/doc.yaml', 'refused: 10.1.2.3 is a private address'],
    ['a metadata address', 'https://169.254.169.254/doc.yaml', 'refused: 169.254.169.254 is a cloud metadata address'],
  ])('refuses %s before connecting', async (_what, url, reason) => {
    const r = await fetchDocument(task(url));
    expect(r.ok).toBe(false);
    expect(r.error).toContain(reason);
  });

  it.each([
    ['a redirect to a private address', '/to-private', 'refused: 10.1.2.3 is a private address'],
    ['a redirect to plain http', '/to-plain-http', 'http://docs.example.com/doc.yaml is plain http'],
    ['too many redirects', '/loop', 'redirected more than 3 times'],
    ['an HTTP error', '/missing', 'answered HTTP 404'],
    ['a body over the limit', '/big', 'is larger than 1024 bytes'],
    ['a body that is not UTF-8', '/latin1', 'is not UTF-8 text'],
  ])('reports %s', async (_what, path, reason) => {
    const r = await fetchDocument(task(`${base}${path}`));
    expect(r).toMatchObject({ ok: false, kind: 'document.fetch', taskId: 't' });
    expect(r.error).toContain(reason);
  });

  it('refuses loopback when nothing is allowlisted, even over http', async () => {
    configureOutbound({ policy: denyAllPrivate });
    try {
      const r = await fetchDocument(task(`${base}/doc.yaml`));
      expect(r.error).toContain('is plain http');
    } finally {
      configureOutbound({ policy: parseOutboundAllow('127.0.0.1') });
    }
  });
});

describe('webhook.post', () => {
  const post = createWebhookPostHandler({ timeoutMs: 5_000 });
  const hook = (url: string) => ({
    v: 1 as const,
    taskId: 'w',
    kind: 'webhook.post' as const,
    url,
    body: '{"threshold":80}',
    deadlineAt: Date.now() + 5_000,
    replyTo: 'r',
  });

  it('POSTs the JSON body; a redirect or an error status fails and says so without the path', async () => {
    expect(await post(hook(`${base}/hook/t0k3n`))).toEqual({
      v: 1,
      taskId: 'w',
      kind: 'webhook.post',
      ok: true,
      status: 204,
    });
    expect(hooked).toEqual([{ type: 'application/json', body: '{"threshold":80}' }]);
    const followed = hits.length;
    const moved = await post(hook(`${base}/to-doc`));
    expect(moved).toMatchObject({ ok: false, status: 301, error: `${base} answered HTTP 301` });
    expect(hits.slice(followed)).toEqual(['/to-doc']);
  });

  it('refuses loopback when nothing is allowlisted', async () => {
    configureOutbound({ policy: denyAllPrivate });
    try {
      const r = await post(hook(`${base}/hook/t0k3n`));
      expect(r.ok).toBe(false);
      expect(r.error).toContain('plain http');
      expect(r.error).not.toContain('t0k3n');
    } finally {
      configureOutbound({ policy: parseOutboundAllow('127.0.0.1') });
    }
  });
});
