import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ControlPlaneClient, startStack, type Stack, type StackOptions } from '@toolplane/cli';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import pg from 'pg';

/** The real services started by tests/setup/global-setup.js. Missing ones fail the test, never skip it. */
export function testServices(): { redisUrl: string; adminDatabaseUrl: string } {
  const redisUrl = process.env.TEST_REDIS_URL;
  const adminDatabaseUrl = process.env.TEST_POSTGRES_ADMIN_URL ?? process.env.TEST_DATABASE_URL;
  if (!redisUrl || !adminDatabaseUrl)
    throw new Error('TEST_REDIS_URL and TEST_DATABASE_URL must be set (jest globalSetup starts them)');
  return { redisUrl, adminDatabaseUrl };
}

/** A new empty database on the test PostgreSQL server, for one test file. */
export async function freshDatabase(label: string): Promise<string> {
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

export function uniquePrefix(label: string): string {
  return `t${label.replace(/[^a-z0-9]/gi, '')}${randomBytes(3).toString('hex')}`;
}

/** The seed-001 descriptor without its `rate_limits` block (load tests would be throttled). */
export function withoutRateLimits(descriptorYaml: string): string {
  const out = descriptorYaml.replace(/\nrate_limits:\n(?:  .*\n)+/, '\n');
  if (out === descriptorYaml) throw new Error('no rate_limits block to remove');
  return out;
}

/**
 * The whole platform as separate processes on the test Redis (own key prefix) and a fresh
 * PostgreSQL database (or `databaseUrl`: a PostgreSQL of the test's own, which it may stop),
 * plus a REST client with the bootstrap key.
 */
export async function startTestStack(
  label: string,
  opts: Omit<StackOptions, 'dataDir' | 'redisUrl' | 'redisPrefix'> = {},
): Promise<{ stack: Stack; api: ControlPlaneClient }> {
  const { databaseUrl, ...rest } = opts;
  const stack = await startStack({
    dataDir: tempDir(label),
    redisUrl: testServices().redisUrl,
    redisPrefix: uniquePrefix(label),
    databaseUrl: databaseUrl ?? (await freshDatabase(label)),
    ...rest,
  });
  return { stack, api: new ControlPlaneClient(stack.controlPlaneUrl, stack.bootstrapKey) };
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
