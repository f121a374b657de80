import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * As root, PostgreSQL runs as the unprivileged `postgres` user, which must be able to reach its binaries and its data
 * directory. Toolplane never changes the mode or owner of a directory it did not create (it used to open every parent
 * of the data directory, /tmp and /root included). Whatever that user cannot reach gets a place of its own
 * in the runtime directory, created by us, owned by root and writable by root only:
 *
 *   <runtime>/installs/<hash of the binaries>/  a copy of the PostgreSQL installation (bin/, lib/, share/), when the
 *                                               original (node_modules of the checkout) is out of reach; kept, shared
 *   <runtime>/clusters/<hash of the path>/      a cluster whose data directory the caller asked for out of reach:
 *       owner                                   the caller's data directory path (a symlink there leads to data/)
 *       data/                                   the cluster, owned by postgres, mode 0700
 *
 * A cluster lives as long as the caller's path is a symlink to it: each start (as root) removes the clusters whose
 * symlink is gone and whose postmaster is not running. Left alone otherwise: the caller's data directory as given.
 */
export const defaultRuntimeDir = '/var/lib/toolplane-postgres';

export interface OsUser {
  uid: number;
  gid: number;
}

const pgUser = 'postgres';

/** The `postgres` OS user; created (a system user and group, no home) when missing. */
export function postgresUser(): OsUser {
  const lookup = (): OsUser | undefined => {
    try {
      const id = (flag: string) =>
        Number(execFileSync('id', [flag, pgUser], { encoding: 'utf8', stdio: 'pipe' }).trim());
      return { uid: id('-u'), gid: id('-g') };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  // A system user and group (no home, no login), as Debian's postgresql package makes them.
  execFileSync(
    'sh',
    [
      '-c',
      'getent group "$1" >/dev/null || groupadd --system "$1"; ' +
        'useradd --system --gid "$1" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$1"',
      'sh',
      pgUser,
    ],
    { stdio: 'pipe' },
  );
  const created = lookup();
  if (!created) throw new Error(`could not create the "${pgUser}" OS user that PostgreSQL runs as under root`);
  return created;
}

/**
 * Whether `user` can reach each path: search permission on every directory on the way and on the path itself (a
 * directory to traverse, or a program to run). Asked of the system as that user, with the same credentials PostgreSQL
 * gets (no supplementary groups: Node drops them when it switches user).
 */
function canReach(user: OsUser, paths: string[]): boolean {
  const r = spawnSync('sh', ['-c', 'for p; do [ -x "$p" ] || exit 1; done', 'sh', ...paths], {
    uid: user.uid,
    gid: user.gid,
    cwd: '/',
    stdio: 'ignore',
  });
  if (r.error) throw r.error;
  return r.status === 0;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

const hash = (...parts: (string | Buffer)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex').slice(0, 16);
};

/**
 * A directory of ours: created when missing (mode 0755, as are the missing parents created on the way), otherwise it
 * must be a real directory owned by root and writable by root only. Never changes an existing directory.
 */
function ownDirectory(path: string): string {
  if (!lstatOrUndefined(path)) {
    let first: string | undefined;
    try {
      first = mkdirSync(path, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new Error(
        `cannot create ${path} for the embedded PostgreSQL's binaries and data (${(err as Error).message}); ` +
          'make it creatable by root, or run as a user other than root',
        { cause: err },
      );
    }
    // The umask may have narrowed what we just created; nothing above `first` is touched.
    if (first)
      for (let d = path; ; d = dirname(d)) {
        chmodSync(d, 0o755);
        if (d === first || d === dirname(d)) break;
      }
  }
  const st = lstatSync(path);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0)
    throw new Error(
      `${path} must be a directory owned by root and writable by root only (it holds the PostgreSQL binaries and ` +
        `data run as the "${pgUser}" user); remove it and start again`,
    );
  return path;
}

/** The runtime directory, checked: ours, and reachable by the postgres user. */
export function runtimeDirectory(user: OsUser, dir: string): string {
  const base = ownDirectory(resolve(dir));
  if (!canReach(user, [base]))
    throw new Error(
      `the embedded PostgreSQL runs as the "${pgUser}" user (the process is root), and that user cannot reach ${base}: ` +
        'a directory above it is not traversable by it. Toolplane does not change the modes of directories it did not ' +
        `create: use a runtime directory under world-traversable directories (default ${defaultRuntimeDir}), ` +
        'or run as a user other than root.',
    );
  return base;
}

/** Gives every directory of a copy mode 0755 and every file 0755 or 0644 (executable or not). */
function readableByAll(dir: string): void {
  chmodSync(dir, 0o755);
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) readableByAll(p);
    else chmodSync(p, st.mode & 0o100 ? 0o755 : 0o644);
  }
}

/** Removes what a crashed start left half made (`.staging-*`) more than an hour ago. */
function removeStaleStaging(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (!name.startsWith('.staging-')) continue;
    const st = lstatOrUndefined(join(dir, name));
    if (st && Date.now() - st.mtimeMs > 3_600_000) rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/**
 * The PostgreSQL installation (bin/, lib/, share/) the postgres user can run: `installDir` itself when it can reach
 * it, otherwise a copy under `<runtime>/installs/`, made once per content (an atomic rename: concurrent starts agree).
 */
export function reachableInstall(user: OsUser, installDir: string, runtime: string): string {
  const parts = ['bin/initdb', 'bin/postgres', 'lib', 'share'].map((p) => join(installDir, p));
  const missing = parts.filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`not a PostgreSQL installation: ${missing.join(', ')} missing`);
  if (canReach(user, parts)) return installDir;
  const installs = ownDirectory(join(runtime, 'installs'));
  removeStaleStaging(installs);
  const dest = join(installs, hash(readFileSync(parts[0]!), readFileSync(parts[1]!)));
  if (!existsSync(dest)) {
    const staging = join(installs, `.staging-${randomBytes(6).toString('hex')}`);
    try {
      cpSync(installDir, staging, { recursive: true, verbatimSymlinks: true });
      readableByAll(staging);
      renameSync(staging, dest);
    } catch (err) {
      if (!existsSync(dest)) throw err; // else another start made the same copy first
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return dest;
}

/** Whether the postmaster of `dataDir` (its postmaster.pid) is alive. */
function postmasterRunning(dataDir: string): boolean {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function recordedOwner(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Removes the clusters of `<runtime>/clusters/` that no caller's symlink leads to any more (and not running). */
function collectClusters(clusters: string): void {
  removeStaleStaging(clusters);
  for (const name of readdirSync(clusters)) {
    if (name.startsWith('.')) continue;
    const cluster = join(clusters, name);
    const data = join(cluster, 'data');
    const owner = recordedOwner(join(cluster, 'owner'));
    if (owner === undefined) continue;
    let linked: string | undefined;
    try {
      linked = readlinkSync(owner);
    } catch {
      linked = undefined;
    }
    if (linked === data || postmasterRunning(data)) continue;
    rmSync(cluster, { recursive: true, force: true });
  }
}

/** The caller's data directory made ready for initdb/postgres as `user`: created or, while still empty, given to it. */
function ownedDataDirectory(user: OsUser, dir: string): string {
  if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 });
  if (!existsSync(join(dir, 'PG_VERSION'))) chownSync(dir, user.uid, user.gid);
  return dir;
}

/**
 * Where the cluster the caller asked for at `dataDir` lives, as a path the postgres user can reach: `dataDir` itself
 * (symlinks resolved) when it can reach its parent; otherwise a cluster under `<runtime>/clusters/`, with `dataDir` a
 * symlink to it (created before the cluster, so a concurrent collection never takes it). Refuses an existing data
 * directory it cannot reach (the data would have to move).
 */
export function reachableDataDirectory(user: OsUser, dataDir: string, runtime: string): string {
  mkdirSync(dirname(dataDir), { recursive: true });
  const path = join(realpathSync(dirname(dataDir)), basename(dataDir));
  const clusters = ownDirectory(join(runtime, 'clusters'));
  const st = lstatOrUndefined(path);
  // Ours: a symlink to <clusters>/<id>/data, made by a start at this path, or at another one the caller's directory was
  // moved from (then the cluster is adopted, before the collection below, which keys on the recorded path).
  const target = st?.isSymbolicLink() ? resolve(dirname(path), readlinkSync(path)) : undefined;
  const ours = target !== undefined && basename(target) === 'data' && dirname(dirname(target)) === clusters;
  const cluster = ours ? dirname(target) : join(clusters, hash(path));
  const owner = join(cluster, 'owner');
  if (ours && existsSync(cluster) && recordedOwner(owner) !== path) writeFileSync(owner, `${path}\n`, { mode: 0o600 });
  collectClusters(clusters);
  const mapped = join(cluster, 'data');
  if (!ours) {
    const real = st ? realpathSync(path) : path;
    if (canReach(user, [dirname(real)])) return ownedDataDirectory(user, real);
    if (st)
      throw new Error(
        `the PostgreSQL data directory ${real} exists, but the "${pgUser}" user that PostgreSQL runs as under root ` +
          'cannot reach it: a directory above it is not traversable by that user. Toolplane does not change the modes ' +
          'of directories it did not create: move the data directory where that user can reach it, or remove it to ' +
          'start with an empty cluster.',
      );
    symlinkSync(mapped, path);
  }
  if (!existsSync(cluster)) {
    const staging = join(clusters, `.staging-${randomBytes(6).toString('hex')}`);
    try {
      mkdirSync(staging);
      chmodSync(staging, 0o755);
      writeFileSync(join(staging, 'owner'), `${path}\n`, { mode: 0o600 });
      mkdirSync(join(staging, 'data'), { mode: 0o700 });
      chownSync(join(staging, 'data'), user.uid, user.gid);
      renameSync(staging, cluster);
    } catch (err) {
      if (!existsSync(cluster)) throw err;
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return ownedDataDirectory(user, mapped);
}
