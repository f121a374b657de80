import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sendRequest } from '../http-operation.ts';
import { configureOutbound, createGuardedFetch, guardedLookup, parseOutboundAllow } from '../outbound-guard.ts';
import { TwinEgressError, withoutUpstream } from './no-upstream.ts';

const limits = { timeoutMs: 5_000, maxResponseBytes: 1024 * 1024 };

/** A reachable upstream on 127.0.0.1 that counts the connections opened to it. */
let server: Server;
let url: string;
let connections = 0;

beforeAll(async () => {
  configureOutbound({ policy: parseOutboundAllow('127.0.0.1, localhost') });
  server = createServer((_req, res) => res.end('{"ok":true}'));
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/items`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('a twin job opens no connection', () => {
  it('sendRequest: refused before connecting, while the same request outside the twin reaches the upstream', async () => {
    const before = connections;
    const twin = await withoutUpstream(() => sendRequest({ method: 'GET', url, headers: {} }, limits));
    expect(twin).toEqual({ kind: 'unreachable', code: 'ETWIN' });
    expect(connections).toBe(before);
    const real = await sendRequest({ method: 'GET', url, headers: {} }, limits);
    expect(real.kind).toBe('response');
    expect(connections).toBe(before + 1);
  });

  it('the guarded fetch of external MCP servers and the guard’s lookup refuse too', async () => {
    const before = connections;
    const fetch = createGuardedFetch();
    await expect(withoutUpstream(() => fetch(url.replace('127.0.0.1', 'localhost')))).rejects.toBeInstanceOf(
      TwinEgressError,
    );
    const looked = await withoutUpstream(
      () => new Promise<unknown>((resolve) => guardedLookup()('localhost', { all: true }, (err) => resolve(err))),
    );
    expect(looked).toBeInstanceOf(TwinEgressError);
    expect(connections).toBe(before);
  });
});
