import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startStack, type ServiceProcess, type Stack, type StackOptions } from '@toolplane/cli';
import { createManagementClient, type ManagementClient } from '@toolplane/client';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import pg from 'pg';
import { createRedisClient, RedisEnv, type RedisClient } from '@toolplane/redis';
import { startContractProxy } from './contract/api-contract.ts';
import type { ExecutionRecord } from '../packages/contracts/src/index.ts';

/** The real services started by tests/setup/global-setup.js. Missing ones fail the test, never skip it. */
function testServices(): { redisUrl: string; adminDatabaseUrl: string } {
  const redisUrl = process.env.TEST_REDIS_URL;
  const adminDatabaseUrl = process.env.TEST_POSTGRES_ADMIN_URL ?? process.env.TEST_DATABASE_URL;
  if (!redisUrl || !adminDatabaseUrl)
    throw new Error('TEST_REDIS_URL and TEST_DATABASE_URL must be set (jest globalSetup starts them)');
  return { redisUrl, adminDatabaseUrl };
}

/**
 * The services' Redis variables when this file runs on another form (TEST_REDIS_FORM, set by scripts/run-tests.ts for
 * the files it runs on every form): the shared Redis Cluster (its tool-call queue in three shards) or Sentinel setup
 * of tests/setup/global-setup.js. Undefined on the default single Redis. A form without its servers fails the file.
 */
function testRedisForm(): { redis: Record<string, string>; shards: Record<string, string> } | undefined {
  const form = process.env.TEST_REDIS_FORM;
  if (!form) return undefined;
  const { TEST_REDIS_CLUSTER_NODES: nodes, TEST_REDIS_SENTINELS: sentinels } = process.env;
  if (form === 'cluster' && nodes)
    return { redis: { REDIS_CLUSTER_NODES: nodes }, shards: { REDIS_QUEUE_SHARDS: '3' } };
  if (form === 'sentinel' && sentinels)
    return {
      redis: { REDIS_SENTINELS: sentinels, REDIS_SENTINEL_MASTER: process.env.TEST_REDIS_SENTINEL_MASTER ?? '' },
      shards: {},
    };
  throw new Error(`TEST_REDIS_FORM=${form}: its servers are not set (TEST_REDIS_FORMS in the global setup)`);
}

/** A client of the stack's Redis, whatever its form (the test's own URL, the shared Redis, or TEST_REDIS_FORM's). */
export function stackRedis(stack: Stack): RedisClient {
  const form = stack.redisUrl ? undefined : testRedisForm();
  return createRedisClient(RedisEnv.parse(form ? form.redis : { REDIS_URL: stack.redisUrl }), { lazyConnect: true });
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
 * The whole platform as separate processes on the test Redis (own key prefix) and a fresh PostgreSQL database,
 * plus a typed management client (@toolplane/client) with the bootstrap key. `redisUrl`: a Redis of the test's
 * own instead (one it may kill and restart), or `redis` its variables in another form; `databaseUrl`: a PostgreSQL of the test's own (one it may stop).
 */
export async function startTestStack(
  label: string,
  opts: Omit<StackOptions, 'dataDir' | 'redisPrefix'> = {},
): Promise<{
  stack: Stack;
  api: ManagementClient;
  /** The control plane itself, past the contract proxy: for requests the document must not describe. */
  directControlPlaneUrl: string;
}> {
  const { databaseUrl, ...rest } = opts;
  const form = rest.redis || rest.redisUrl ? undefined : testRedisForm();
  // Every call to the management API goes through the contract proxy (tests/contract/api-contract.ts):
  // a response or accepted request the OpenAPI document does not describe fails the file at stop. The
  // dashboard is reached through it too, so its origin is the one the edge allows (CORS, "Try a tool").
  const proxy = await startContractProxy(label);
  const started = await startStack({
    dataDir: tempDir(label),
    redisPrefix: uniquePrefix(label),
    databaseUrl: databaseUrl ?? (await freshDatabase(label)),
    ...rest,
    // `redis`: a Redis of another form (a cluster, Sentinel) instead of a URL; TEST_REDIS_FORM's for the shared one.
    ...(rest.redis || rest.redisUrl ? {} : form ? { redis: form.redis } : { redisUrl: testServices().redisUrl }),
    serviceEnv: {
      ...rest.serviceEnv,
      edge: { ALLOWED_ORIGINS: proxy.url, ...form?.shards, ...rest.serviceEnv?.edge },
      worker: { ...form?.shards, ...rest.serviceEnv?.worker },
    },
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
  return {
    stack,
    api: createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey),
    directControlPlaneUrl: started.controlPlaneUrl,
  };
}

/**
 * The options of a typed-client call that sends `text` as it is, as `application/yaml` (a connector descriptor or
 * document upload): the generated body types are the parsed document, which openapi-fetch would send as JSON.
 */
export function yamlBody(text: string) {
  return {
    body: text as never,
    bodySerializer: (body: unknown) => body as string,
    headers: { 'content-type': 'application/yaml' },
  };
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

/**
 * A local OAuth authorization server for tests: a JWKS endpoint (`/jwks`, key id `k1`) and the key that signs its
 * tokens; RFC 8414 metadata; and, for `clients`, the authorization code flow with PKCE a browser goes through
 * (`/authorize` signs in `user` at once and sends the code back, `/token` redeems it once, with the verifier, for
 * an access token whose audience is the `resource` asked for). `requests` lists what reached it (path and query).
 */
export interface LocalAuthorizationServer {
  issuer: string;
  signingKey: CryptoKey;
  /** Who `/authorize` signs in: the access token's `sub` and further claims; `deny` answers `access_denied`. */
  user: { sub: string; claims: Record<string, unknown>; deny?: boolean };
  /** Lifetime of the access tokens `/token` issues (seconds). */
  tokenLifetime: number;
  /** While true, the metadata documents (RFC 8414, OpenID Connect discovery) answer 503: an issuer having a bad minute. */
  discoveryDown: boolean;
  requests: string[];
  /** The clients `/authorize` knows (may be added to once their redirect URI is known). */
  clients: { clientId: string; redirectUri: string }[];
  close(): Promise<void>;
}

export async function startAuthorizationServer(
  opts: { clients?: { clientId: string; redirectUri: string }[] } = {},
): Promise<LocalAuthorizationServer> {
  const pair = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const codes = new Map<
    string,
    {
      clientId: string;
      redirectUri: string;
      challenge: string;
      resource: string;
      scope: string;
      claims: Record<string, unknown>;
    }
  >();
  const json = (res: ServerResponse, status: number, body: unknown) =>
    void res
      .writeHead(status, {
        'content-type': 'application/json',
        'access-control-allow-origin': '*',
        'cache-control': 'no-store',
      })
      .end(JSON.stringify(body));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', as.issuer);
    as.requests.push(url.pathname + url.search);
    if (url.pathname === '/jwks') return json(res, 200, { keys: [jwk] });
    if (as.discoveryDown && url.pathname.startsWith('/.well-known/'))
      return json(res, 503, { error: 'temporarily_unavailable' });
    if (url.pathname === '/.well-known/oauth-authorization-server')
      return json(res, 200, {
        issuer: as.issuer,
        authorization_endpoint: `${as.issuer}/authorize`,
        token_endpoint: `${as.issuer}/token`,
        jwks_uri: `${as.issuer}/jwks`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none'],
        authorization_response_iss_parameter_supported: true,
      });
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      const client = as.clients.find((c) => c.clientId === q.get('client_id'));
      // An unknown client or redirect URI is never redirected to (RFC 6749 4.1.2.1).
      if (!client || client.redirectUri !== q.get('redirect_uri')) return void res.writeHead(400).end('unknown client');
      const back = new URL(client.redirectUri);
      back.searchParams.set('iss', as.issuer);
      if (q.get('state')) back.searchParams.set('state', q.get('state')!);
      if (as.user.deny || q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256') {
        back.searchParams.set('error', as.user.deny ? 'access_denied' : 'invalid_request');
      } else {
        const code = randomBytes(16).toString('base64url');
        codes.set(code, {
          clientId: client.clientId,
          redirectUri: client.redirectUri,
          challenge: q.get('code_challenge') ?? '',
          resource: q.get('resource') ?? '',
          scope: q.get('scope') ?? '',
          claims: { ...as.user.claims, sub: as.user.sub },
        });
        back.searchParams.set('code', code);
      }
      return void res.writeHead(302, { location: back.href }).end();
    }
    if (url.pathname === '/token' && req.method === 'OPTIONS')
      return void res
        .writeHead(204, {
          'access-control-allow-origin': '*',
          'access-control-allow-headers': '*',
          'access-control-allow-methods': 'POST',
        })
        .end();
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        void (async () => {
          const form = new URLSearchParams(body);
          const code = codes.get(form.get('code') ?? '');
          codes.delete(form.get('code') ?? ''); // one use
          const verifier = form.get('code_verifier') ?? '';
          const challenge = createHash('sha256').update(verifier).digest('base64url');
          if (
            !code ||
            form.get('grant_type') !== 'authorization_code' ||
            form.get('client_id') !== code.clientId ||
            form.get('redirect_uri') !== code.redirectUri ||
            challenge !== code.challenge
          )
            return json(res, 400, { error: 'invalid_grant' });
          const token = await new SignJWT({ ...code.claims, scope: code.scope })
            .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'at+jwt' })
            .setIssuer(as.issuer)
            .setAudience(code.resource)
            .setIssuedAt()
            .setExpirationTime(`${as.tokenLifetime}s`)
            .sign(pair.privateKey);
          json(res, 200, {
            access_token: token,
            token_type: 'Bearer',
            expires_in: as.tokenLifetime,
            scope: code.scope,
          });
        })();
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const as: LocalAuthorizationServer = {
    issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    signingKey: pair.privateKey,
    user: { sub: 'alice', claims: {} },
    tokenLifetime: 300,
    discoveryDown: false,
    requests: [],
    clients: opts.clients ?? [],
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  return as;
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

/**
 * `n` execution records of one tool as a worker sends them to the record stream (caller: key `k`, no steps), for
 * tests that feed the traffic rollup a known mix with chosen times and durations. Every outcome but `success` carries
 * the error code `tool.upstream_error`.
 */
export function executionRecords(
  at: { workspaceId: string; serverId: string; tool: string; startedAt: string },
  n: number,
  durationMs: number,
  outcome: ExecutionRecord['outcome'] = 'success',
): ExecutionRecord[] {
  return Array.from({ length: n }, () => ({
    v: 1 as const,
    invocationId: randomUUID(),
    ...at,
    catalogVersion: 1,
    caller: { keyId: 'k' },
    durationMs,
    outcome,
    ...(outcome === 'success' ? {} : { errorCode: 'tool.upstream_error' }),
    steps: [],
  }));
}
