import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from './migrate.ts';

/**
 * For unit tests that need PostgreSQL: a new database on the test server started by
 * tests/setup/global-setup.js, migrated, named after `label`. Returns its URL. A missing test server
 * fails the test (never a skip).
 */
export async function migratedTestDatabase(label: string): Promise<string> {
  const admin = process.env.TEST_POSTGRES_ADMIN_URL ?? process.env.TEST_DATABASE_URL;
  if (!admin) throw new Error('TEST_DATABASE_URL must be set (jest globalSetup starts PostgreSQL)');
  const name = `t_${label}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  return url.toString();
}
