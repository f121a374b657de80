import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, unwrap } from '@toolplane/client';
import { startTestStack } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';

// One worker, on its default settings, holds far more calls in flight than a few dozen: CALLS tool calls
// are sent at once to an upstream that answers none of them until all CALLS have arrived, then answers
// every one. A worker (or a connection pool) that ran fewer at a time would leave the rest queued behind
// requests that never end: the calls would time out instead of succeeding.
const CALLS = 1000;
/** Generous: the machine may be loaded; every call is answered as soon as the last one has arrived. */
const CALL_TIMEOUT_MS = 150_000;

/** An API that holds every request until `expected` requests are open at once, then answers them all. */
class Barrier {
  readonly expected: number;
  private readonly held: (() => void)[] = [];
  private readonly server: Server;
  released = false;
  /** Most requests open at the same time. */
  maxOpen = 0;
  url = '';

  constructor(expected: number) {
    this.expected = expected;
    this.server = createServer((req, res) => this.onRequest(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const ref = decodeURIComponent(req.url!.split('/').pop()!);
    req.resume();
    req.on('end', () => {
      const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ref }));
      if (this.released) return answer();
      this.held.push(answer);
      this.maxOpen = Math.max(this.maxOpen, this.held.length);
      if (this.held.length < this.expected) return;
      this.released = true;
      for (const go of this.held.splice(0)) go();
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const document = {
  openapi: '3.1.0',
  info: { title: 'Items', version: '1.0.0' },
  paths: {
    '/items/{ref}': {
      get: {
        operationId: 'getItem',
        parameters: [{ name: 'ref', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'the item' } },
      },
    },
  },
};

let upstream: Barrier;
let stack: Stack;
let serverUrl: string;

beforeAll(async () => {
  upstream = new Barrier(CALLS);
  await upstream.start();
  // Only the deadlines are raised (a loaded machine); concurrency and connection limits are the defaults.
  ({ stack } = await startTestStack('in-flight', {
    logLevel: 'warn',
    serviceEnv: {
      edge: { TOOL_CALL_TIMEOUT_MS: String(CALL_TIMEOUT_MS) },
      worker: { HTTP_TIMEOUT_MS: String(CALL_TIMEOUT_MS) },
    },
  }));
  const client = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  const connector = await unwrap(
    client.POST('/connectors', {
      body: {
        kind: 'openapi',
        slug: 'items',
        entry: 'openapi.json',
        files: { 'openapi.json': JSON.stringify(document) },
      } as never,
    }),
  );
  const instance = await unwrap(
    client.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'items', base_url: upstream.url, credentials: {} },
    }),
  );
  const server = await unwrap(
    client.POST('/mcp_manager', { body: { name: 'items', mode: 'NORMAL', connectorInstanceId: instance.id } }),
  );
  serverUrl = server.url;
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

it(`runs ${CALLS} calls at once in one worker: all reach the upstream before any is answered, all succeed`, async () => {
  expect(stack.processes.filter((p) => p.service === 'worker')).toHaveLength(1);
  const worker = stack.processes.find((p) => p.service === 'worker')!;
  const rss = () => Number(readFileSync(`/proc/${worker.child.pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  const idleRss = rss();
  let peakRss = idleRss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rss())), 200);
  const answers = await Promise.all(
    Array.from({ length: CALLS }, async (_, i) => {
      const ref = `item-${i}`;
      const res = await postMcp(
        serverUrl,
        { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'getItem', arguments: { ref } } },
        { 'x-api-key': stack.bootstrapKey, 'mcp-protocol-version': '2025-11-25' },
      );
      const body = (await res.json()) as { result?: { isError?: boolean; structuredContent?: { ref?: string } } };
      return { ref, status: res.status, isError: body.result?.isError, answered: body.result?.structuredContent?.ref };
    }),
  );
  clearInterval(sampler);
  // Figures for the reader (no assertion on them): the worker's memory with every call held.
  console.log(
    `in-flight: ${upstream.maxOpen} requests open at the upstream at once; worker RSS ${(idleRss / 1e6).toFixed(0)} MB ` +
      `before, ${(peakRss / 1e6).toFixed(0)} MB at most`,
  );
  expect(upstream.maxOpen).toBe(CALLS);
  expect(answers.filter((a) => a.status !== 200 || a.isError === true || a.answered !== a.ref)).toEqual([]);
}, 180_000);
