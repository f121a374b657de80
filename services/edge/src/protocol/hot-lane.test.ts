import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import express, { type Request, type Response } from 'express';
import { expressServerClasses, hotLane } from './hot-lane.ts';

// Which requests take the hot lane, and that a body reaches the handler as express.json would hand it over
// (tests/e2e/calls/fast-path.test.ts, "the hot lane", compares the real edge's answers both ways).

const limit = 1000;
let server: Server;
let base: string;
const tracked: string[] = [];
/** Per request: whether Node made its request and response with express's members (`expressServerClasses`). */
const born: boolean[] = [];

/** What the handler saw: the lane, the server id, the parsed body, and the prototypes express gives. */
function answer(lane: string) {
  return (req: Request, res: Response) => {
    res.json({
      lane,
      serverId: req.params.serverId,
      body: req.body as unknown,
      header: req.header('x-probe') ?? null,
      ip: typeof req.ip,
    });
    return Promise.resolve();
  };
}

function onError(err: unknown, _req: Request, res: Response) {
  const e = err as { type?: string; status?: number };
  res.status(e.status ?? 500).json({ error: e.type ?? 'internal' });
}

beforeAll(async () => {
  const app = express();
  app.use((_req, _res, next) => {
    tracked.push('express');
    next();
  });
  app.post('/mcp/:serverId', express.json({ limit, type: () => true }), (req, res, next) => {
    answer('express')(req, res).catch(next);
  });
  app.post('/api/v1/mcp/:serverId', express.json({ limit, type: () => true }), (req, res, next) => {
    answer('express')(req, res).catch(next);
  });
  app.use((err: unknown, req: Request, res: Response, _next: unknown) => onError(err, req, res));
  const hot = hotLane({
    app,
    maxBodyBytes: limit,
    track: () => void tracked.push('hot'),
    serve: answer('hot'),
    onError,
  });
  // As the edge's server: Node's classes with express's members from the start.
  server = createServer(expressServerClasses(app), (req, res) => {
    const [r, s] = [req as unknown as Request, res as unknown as Response];
    born.push(r.app === app && s.app === app && typeof r.get === 'function' && typeof s.json === 'function');
    void (hot(req, res) || app(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

interface Sent {
  status: number;
  json: Record<string, unknown>;
}

function send(path: string, body: Buffer | string, headers: Record<string, string> = {}, method = 'POST') {
  const data = typeof body === 'string' ? Buffer.from(body) : body;
  return new Promise<Sent>((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      {
        method,
        // A header given as '' is left out.
        headers: Object.fromEntries(
          Object.entries({
            'content-type': 'application/json',
            'content-length': String(data.length),
            ...headers,
          }).filter(([, v]) => v !== ''),
        ),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          // express's own 404 page is HTML.
          const json = res.headers['content-type']?.startsWith('application/json') ? JSON.parse(text) : { text };
          resolve({ status: res.statusCode!, json: json as Sent['json'] });
        });
      },
    );
    req.on('error', reject);
    if (headers['transfer-encoding']) req.removeHeader('content-length');
    req.end(data);
  });
}

const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });

describe('the hot lane', () => {
  it('takes a plain MCP POST on both endpoint paths, with express request and response', async () => {
    for (const path of ['/mcp/srv-1', '/api/v1/mcp/srv_2']) {
      const sent = await send(path, body, { 'x-probe': 'p' });
      expect(sent).toEqual({
        status: 200,
        json: {
          lane: 'hot',
          serverId: path.split('/').pop(),
          body: JSON.parse(body) as unknown,
          header: 'p',
          ip: 'string',
        },
      });
    }
    // Its response was tracked like every other (the drain bookkeeping).
    expect(tracked.filter((t) => t === 'hot')).toHaveLength(2);
  });

  it("gets requests and responses Node made with express's members, on either lane", async () => {
    born.length = 0;
    expect((await send('/mcp/srv-1', body)).json.lane).toBe('hot');
    expect((await send('/mcp/srv-1?via=express', body)).json.lane).toBe('express');
    expect(born).toEqual([true, true]);
  });

  it('takes JSON declared as UTF-8, with no content type, and split across packets', async () => {
    expect((await send('/mcp/a', body, { 'content-type': 'application/json; charset=UTF-8' })).json.lane).toBe('hot');
    expect((await send('/mcp/a', body, { 'content-type': '' })).json.lane).toBe('hot');
    const text = JSON.stringify({ jsonrpc: '2.0', id: 'ü🎫', method: 'x' });
    const bytes = Buffer.from(text);
    const split = await new Promise<Sent>((resolve, reject) => {
      const req = httpRequest(
        `${base}/mcp/a`,
        { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(bytes.length) } },
        (res) => {
          let out = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (out += c));
          res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(out) as Sent['json'] }));
        },
      );
      req.on('error', reject);
      // The emoji's four bytes in two writes.
      const cut = bytes.indexOf(0xf0) + 2;
      req.write(bytes.subarray(0, cut));
      setImmediate(() => req.end(bytes.subarray(cut)));
    });
    expect(split.json).toMatchObject({ lane: 'hot', body: JSON.parse(text) as unknown });
  });

  it('leaves everything else to express', async () => {
    const cases: [string, Record<string, string>, string?][] = [
      ['/mcp/a?x=1', {}],
      ['/mcp/a', { origin: 'https://example.com' }],
      ['/mcp/a', { 'content-type': 'text/plain' }],
      ['/mcp/a', { 'content-type': 'application/json; charset=utf-16' }],
      ['/mcp/a', { 'transfer-encoding': 'chunked' }],
      ['/mcp/a%2Db', {}],
      ['/mcp/a/', {}],
      ['/api/v1/mcp/a', {}, 'PUT'],
    ];
    for (const [path, headers, method] of cases) {
      tracked.length = 0;
      await send(path, body, headers, method).catch(() => undefined);
      expect([path, headers, tracked]).toEqual([path, headers, ['express']]);
    }
    tracked.length = 0;
    const gz = gzipSync(body);
    const gzipped = await send('/mcp/a', gz, { 'content-encoding': 'gzip' });
    expect(gzipped.json.lane).toBe('express');
    expect(tracked).toEqual(['express']);
  });

  it('gives a body that is not JSON, or not an object or array, the error express.json gives', async () => {
    for (const text of ['{', '1', '"s"', 'null', ' \n[1', 'nope']) {
      const viaHot = await send('/mcp/a', text);
      const viaExpress = await send('/mcp/a?via=express', text);
      expect([text, viaHot]).toEqual([text, viaExpress]);
      expect(viaHot).toEqual({ status: 400, json: { error: 'entity.parse.failed' } });
    }
  });

  it('parses a body after a byte order mark, and leaves a body over the limit to express (413)', async () => {
    const bom = await send('/mcp/a', `\ufeff${body}`);
    expect(bom.json).toMatchObject({ lane: 'hot', body: JSON.parse(body) as unknown });
    expect(await send('/mcp/a?via=express', `\ufeff${body}`)).toEqual({
      ...bom,
      json: { ...bom.json, lane: 'express' },
    });
    tracked.length = 0;
    const large = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'x', params: { pad: 'x'.repeat(limit) } });
    expect(await send('/mcp/a', large)).toEqual({ status: 413, json: { error: 'entity.too.large' } });
    expect(tracked).toEqual(['express']);
  });
});
