import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { embeddedPostgresInstallDir, startEmbeddedPostgres, type PostgresHandle } from '@toolplane/embedded';

/**
 * The embedded PostgreSQL as root (as CI and `scripts/dev.sh` in a container run it): PostgreSQL
 * refuses to run as root, so it runs as the `postgres` user, which cannot reach a checkout or data
 * directory under a 0700 directory. It must start anyway, and never change the mode of a directory
 * it did not create (it used to turn /tmp from 1777 into 0755).
 *
 * These tests check the root case and fail when not run as root.
 */

const isRoot = process.getuid?.() === 0;
const runtimeDir = join(tmpdir(), `toolplane-pg-runtime-test-${randomBytes(4).toString('hex')}`);
const made: string[] = [];

/** A sticky, world-writable directory (like /tmp) with a private 0700 directory inside. */
function privateDirInSticky(): string {
  const sticky = mkdtempSync(join(tmpdir(), 'toolplane-sticky-'));
  chmodSync(sticky, 0o1777);
  made.push(sticky);
  return mkdtempSync(join(sticky, 'private-')); // mode 0700
}

/** The mode of every existing directory from `path` up to `/` (os.tmpdir() among them). */
function modes(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (let d = path; ; d = dirname(d)) {
    if (existsSync(d)) out[d] = (statSync(d).mode & 0o7777).toString(8);
    if (d === dirname(d)) return out;
  }
}

async function query<T>(server: PostgresHandle, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: server.url('postgres') });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

function postgresUid(): number {
  return Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
}

beforeAll(() => {
  expect({ uid: process.getuid?.(), isRoot }).toEqual({ uid: 0, isRoot: true }); // run as root (CI does)
});

afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
  rmSync(runtimeDir, { recursive: true, force: true });
});

describe('embedded PostgreSQL as root', () => {
  it('starts with its data under a 0700 directory in a sticky 1777 one, and changes no directory mode', async () => {
    const priv = privateDirInSticky();
    const dataDir = join(priv, 'stack', 'postgres');
    const before = modes(priv);
    expect(before[tmpdir()]).toBeDefined();

    let server = await startEmbeddedPostgres({ dataDir, runtimeDir });
    try {
      expect(await query(server, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
      await query(server, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$still here$$)');
    } finally {
      await server.stop();
    }
    expect(modes(priv)).toEqual(before);
    // The caller's data directory still leads to the cluster (tools read postmaster.pid through it).
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    const cluster = realpathSync(dataDir);
    expect(cluster.startsWith(realpathSync(runtimeDir) + sep)).toBe(true);
    expect(statSync(cluster).uid).toBe(postgresUid());

    // The same data directory again: the same cluster, with its data.
    server = await startEmbeddedPostgres({ dataDir, runtimeDir });
    try {
      expect(await query(server, 'SELECT v FROM kept')).toEqual([{ v: 'still here' }]);
    } finally {
      await server.stop();
    }
    expect(modes(priv)).toEqual(before);

    // The caller's directory moved (a checkout renamed): its cluster goes with it.
    const moved = `${priv}-moved`;
    renameSync(priv, moved);
    server = await startEmbeddedPostgres({ dataDir: join(moved, 'stack', 'postgres'), runtimeDir });
    try {
      expect(await query(server, 'SELECT v FROM kept')).toEqual([{ v: 'still here' }]);
    } finally {
      await server.stop();
    }
    expect(realpathSync(join(moved, 'stack', 'postgres'))).toBe(cluster);

    // Once the caller's directory is gone, the next start removes the cluster it no longer leads to.
    rmSync(moved, { recursive: true, force: true });
    const other = join(privateDirInSticky(), 'postgres');
    const beforeOther = modes(dirname(other));
    server = await startEmbeddedPostgres({ dataDir: other, runtimeDir });
    await server.stop();
    expect(existsSync(cluster)).toBe(false);
    expect(modes(dirname(other))).toEqual(beforeOther);
  }, 120_000);

  it('starts when its binaries are under a directory the postgres user cannot traverse (a checkout in mktemp -d)', async () => {
    const priv = privateDirInSticky();
    const installDir = join(priv, 'checkout', 'native');
    cpSync(embeddedPostgresInstallDir(), installDir, { recursive: true, verbatimSymlinks: true });
    const dataDir = join(priv, 'checkout', '.data', 'postgres');
    const before = modes(installDir);

    const server = await startEmbeddedPostgres({ dataDir, runtimeDir, installDir });
    try {
      expect(await query(server, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
      // The running postmaster is a copy of the binaries under the runtime directory.
      const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      expect(realpathSync(`/proc/${pid}/exe`).startsWith(realpathSync(runtimeDir) + sep)).toBe(true);
      expect(statSync(`/proc/${pid}`).uid).toBe(postgresUid());
    } finally {
      await server.stop();
    }
    expect(modes(installDir)).toEqual(before);
    expect(lstatSync(priv).mode & 0o777).toBe(0o700);
  }, 120_000);

  it('refuses, naming the directory, when its runtime directory is out of the postgres user’s reach', async () => {
    const priv = privateDirInSticky();
    const before = modes(priv);
    const unreachable = join(priv, 'runtime');
    await expect(startEmbeddedPostgres({ dataDir: join(priv, 'postgres'), runtimeDir: unreachable })).rejects.toThrow(
      unreachable,
    );
    expect(modes(priv)).toEqual(before);
  }, 60_000);
});
