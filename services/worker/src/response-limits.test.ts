// Reading an upstream's answer against a real HTTP server on 127.0.0.1: the body bound
// (HTTP_MAX_RESPONSE_BYTES, in decompressed bytes, with or without Content-Length), an answer cut off
// mid-body, and a cancellation while the body is still arriving. Each ends in an outcome, never a hang.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sendRequest } from './http-operation.ts';
import { configureOutbound, parseOutboundAllow } from './outbound-guard.ts';

const limits = { timeoutMs: 5_000, maxResponseBytes: 1_000 };
const json = (bytes: number) => JSON.stringify({ pad: 'x'.repeat(bytes - 10) });

/** Answers by path; `/slow-body` sends half a body, then waits for `finishSlowBody`. */
const routes: Record<string, (res: ServerResponse) => void> = {
  '/small': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(json(900)),
  '/chunked-small': (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const body = json(900);
    res.write(body.slice(0, 300));
    setImmediate(() => res.end(body.slice(300)));
  },
  '/declared-large': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(json(5_000)),
  '/chunked-large': (res) => {
    res.writeHead(200, { 'content-type': 'application/json' }); // no Content-Length: the bound is found while reading
    const body = json(50_000);
    let at = 0;
    const next = () => {
      if (res.destroyed) return;
      if (at >= body.length) return void res.end();
      res.write(body.slice(at, (at += 400)));
      setImmediate(next);
    };
    next();
  },
  '/gzip-bomb': (res) => {
    const packed = gzipSync(json(200_000)); // a few hundred bytes on the wire, 200 kB decompressed
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(packed);
  },
  '/cut-off': (res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '900' });
    res.write(json(900).slice(0, 200));
    setImmediate(() => res.socket?.destroy());
  },
  '/slow-body': (res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '900' });
    res.write(json(900).slice(0, 200));
    slowBodyStarted();
  },
};
let slowBodyStarted: () => void = () => undefined;

let upstream: Server;
let base: string;

beforeAll(async () => {
  upstream = createServer((req, res) => routes[req.url ?? '']!(res));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  configureOutbound({ policy: parseOutboundAllow('127.0.0.1') });
});

afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

const get = (path: string, cancel?: AbortSignal) =>
  sendRequest({ method: 'GET', url: base + path, headers: {} }, limits, cancel);

describe('an upstream answer is read up to HTTP_MAX_RESPONSE_BYTES', () => {
  it('returns a body within the bound, whether it came in one piece or several', async () => {
    for (const path of ['/small', '/chunked-small']) {
      const outcome = await get(path);
      expect(outcome).toMatchObject({ kind: 'response', status: 200, contentType: 'application/json' });
      const body = Buffer.from((outcome as { body: Uint8Array }).body).toString('utf8');
      expect(JSON.parse(body)).toEqual(JSON.parse(json(900)));
    }
  });

  it('stops at the bound: a declared length over it, a chunked body that grows past it, a gzip body that inflates past it', async () => {
    for (const path of ['/declared-large', '/chunked-large', '/gzip-bomb'])
      expect(await get(path)).toEqual({ kind: 'too_large' });
    // The connection pool still works after the bodies it gave up on.
    expect(await get('/small')).toMatchObject({ kind: 'response', status: 200 });
  });

  it('reports an answer cut off mid-body as an unreachable upstream, not as a short body', async () => {
    const outcome = await get('/cut-off');
    expect(outcome.kind).toBe('unreachable');
  });

  it('reports a call cancelled while its body is arriving as cancelled', async () => {
    const started = new Promise<void>((r) => (slowBodyStarted = r));
    const cancel = new AbortController();
    const pending = get('/slow-body', cancel.signal);
    await started;
    cancel.abort();
    expect(await pending).toEqual({ kind: 'cancelled' });
  });
});
