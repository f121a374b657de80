import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ControlPlaneClient, startStack, type ServiceProcess, type Stack, type StackOptions } from '@toolplane/cli';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import pg from 'pg';
import { startContractProxy } from './contract/api-contract.ts';

/** The real services started by tests/setup/global-setup.js. Missing ones fail the test, never skip it. */
function testServices(): { redisUrl: string; adminDatabaseUrl: string } {
  const redisUrl = process.env.TEST_REDIS_URL;
  const adminDatabaseUrl = process.env.TEST_POSTGRES_ADMIN_URL ?? process.env.TEST_DATABASE_URL;
  if (!redisUrl || !adminDatabaseUrl)
    throw new Error('TEST_REDIS_URL and TEST_DATABASE_URL must be set (jest globalSetup starts them)');
  return { redisUrl, adminDatabaseUrl };
}

/** A new empty database on the test PostgreSQL server, for one test file. */
async function freshDatabase(label: string): Promise<string> {
  const { adminDatabaseUrl } = testServices();
  const name = `t_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminDatabaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminDatabaseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `toolplane-${label}-`));
}

function uniquePrefix(label: string): string {
  return `t${label.replace(/[^a-z0-9]/gi, '')}${randomBytes(3).toString('hex')}`;
}

/** The seed-001 descriptor without its `rate_limits` block (load tests would be throttled). */
export function withoutRateLimits(descriptorYaml: string): string {
  const out = descriptorYaml.replace(/\nrate_limits:\n(?: {2}.*\n)+/, '\n');
  if (out === descriptorYaml) throw new Error('no rate_limits block to remove');
  return out;
}

/**
 * The whole platform as separate processes on the test Redis (own key prefix) and a fresh
 * PostgreSQL database, plus a REST client with the bootstrap key. `redisUrl`: a Redis of the test's
 * own instead (one it may kill and restart); `databaseUrl`: a PostgreSQL of the test's own (one it may stop).
 */
export async function startTestStack(
  label: string,
  opts: Omit<StackOptions, 'dataDir' | 'redisPrefix'> = {},
): Promise<{ stack: Stack; api: ControlPlaneClient }> {
  const { databaseUrl, ...rest } = opts;
  // Every call to the management API goes through the contract proxy (tests/contract/api-contract.ts):
  // a response or accepted request the OpenAPI document does not describe fails the file at stop. The
  // dashboard is reached through it too, so its origin is the one the edge allows (CORS, "Try a tool").
  const proxy = await startContractProxy(label);
  const started = await startStack({
    dataDir: tempDir(label),
    redisPrefix: uniquePrefix(label),
    databaseUrl: databaseUrl ?? (await freshDatabase(label)),
    ...rest,
    redisUrl: rest.redisUrl ?? testServices().redisUrl,
    serviceEnv: { ...rest.serviceEnv, edge: { ALLOWED_ORIGINS: proxy.url, ...rest.serviceEnv?.edge } },
  }).catch(async (err: unknown) => {
    await proxy.close(); // a failed start must not leave the proxy keeping the test process alive
    throw err;
  });
  proxy.setTarget(started.controlPlaneUrl);
  const stack: Stack = {
    ...started,
    controlPlaneUrl: proxy.url,
    stop: async () => {
      await started.stop();
      await proxy.close();
      const violations = proxy.violations();
      if (violations.length > 0)
        throw new Error(`the management API broke its OpenAPI document (docs/openapi.json):\n${violations.join('\n')}`);
    },
  };
  return { stack, api: new ControlPlaneClient(stack.controlPlaneUrl, stack.bootstrapKey) };
}

/**
 * POSTs one JSON-RPC message to an MCP endpoint as a stateless Streamable HTTP client does (JSON or SSE
 * accepted); `headers` adds credentials, the protocol version and the like. Gives the raw response.
 */
export function postMcp(
  url: string,
  message: unknown,
  headers: Record<string, string> = {},
  timeoutMs?: number,
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(message),
    ...(timeoutMs !== undefined ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
  });
}

/**
 * How long a test waits for a change to reach edges and workers over pub/sub. Far below every cache
 * lifetime a test relies on (API keys 60 s, tool lists 10 s, secrets 30 s), so a pass shows the change
 * was pushed, not that a cache expired; generous, because the machine may be loaded.
 */
export const PROPAGATION_DEADLINE_MS = 5_000;

/**
 * Polls `probe` until it returns something other than `undefined` (or `false`), and returns that.
 * Fails after `timeoutMs` with `timed out waiting for <what>` and the last thing the probe returned or
 * threw (a probe may throw while its condition does not hold yet, e.g. a record not found). For
 * conditions the test causes, not as a pause: deadlines are generous (the machine may be loaded).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const shown = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out waiting for ${what} after ${timeoutMs} ms (last: ${shown})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The JSON log lines a service process printed whose `msg` is `msg` (services log with pino, one JSON object a line). */
export function logLines(p: ServiceProcess, msg: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of p.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.msg === msg) lines.push(parsed);
    } catch {
      // a line still being written
    }
  }
  return lines;
}

/** A local OAuth authorization server for tests: a JWKS endpoint (`/jwks`, key id `k1`) and the key that signs its tokens. */
export interface LocalAuthorizationServer {
  issuer: string;
  signingKey: CryptoKey;
  close(): Promise<void>;
}

export async function startAuthorizationServer(): Promise<LocalAuthorizationServer> {
  const pair = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const server = createServer((req, res) => {
    if (req.url === '/jwks')
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    signingKey: pair.privateKey,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * A proxy in front of an upstream on 127.0.0.1: forwards every request; while `holding`, keeps them until
 * `release()` (so calls stay in flight as long as a test wants, whatever the machine's speed).
 */
export class Gate {
  holding = false;
  private readonly held: (() => void)[] = [];
  private readonly server: Server;
  private readonly upstream: string;
  url = '';

  constructor(upstream: string) {
    this.upstream = upstream;
    this.server = createServer((req, res) => this.onRequest(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Lets every request held so far through. */
  release(): void {
    for (const forward of this.held.splice(0)) forward();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = () => {
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k)),
        ) as Record<string, string>;
        const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
        fetch(`${this.upstream}${req.url}`, { method: req.method ?? 'GET', headers, ...(body ? { body } : {}) }).then(
          async (r) => {
            const text = await r.text();
            res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(text);
          },
          (err: unknown) => res.writeHead(502).end(String(err)),
        );
      };
      if (this.holding) this.held.push(forward);
      else forward();
    });
  }

  async close(): Promise<void> {
    this.holding = false;
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
