import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlaneClient, startStack, type Stack, type StackOptions } from '@toolplane/cli';
import pg from 'pg';

/** The real services started by tests/setup/global-setup.js. Missing ones fail the test, never skip it. */
export function testServices(): { redisUrl: string; adminDatabaseUrl: string } {
  const redisUrl = process.env.TEST_REDIS_URL;
  const adminDatabaseUrl = process.env.TEST_POSTGRES_ADMIN_URL ?? process.env.TEST_DATABASE_URL;
  if (!redisUrl || !adminDatabaseUrl) throw new Error('TEST_REDIS_URL and TEST_DATABASE_URL must be set (jest globalSetup starts them)');
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
 * PostgreSQL database, plus a REST client with the bootstrap key.
 */
export async function startTestStack(label: string, opts: Omit<StackOptions, 'dataDir' | 'redisUrl' | 'redisPrefix' | 'databaseUrl'> = {}): Promise<{ stack: Stack; api: ControlPlaneClient }> {
  const stack = await startStack({
    dataDir: tempDir(label),
    redisUrl: testServices().redisUrl,
    redisPrefix: uniquePrefix(label),
    databaseUrl: await freshDatabase(label),
    ...opts,
  });
  return { stack, api: new ControlPlaneClient(stack.controlPlaneUrl, stack.bootstrapKey) };
}
