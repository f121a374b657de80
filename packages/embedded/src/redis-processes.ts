import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { scaled } from './time-scale.ts';

/**
 * What the cluster and Sentinel harnesses share: the Redis binaries, processes that never outlive the process
 * that started them, `redis-cli` one command at a time, and waits on a state (never on a fixed delay).
 */

export function binary(name: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) throw new Error(`${name} is not installed (apt-get install redis-server redis-tools)`);
  return path;
}

export interface RedisProcess {
  port: number;
  child: ChildProcess;
  /** What the process wrote (for error messages). */
  output(): string;
  /** SIGKILL (a crash: nothing flushed, no goodbye to the cluster). */
  kill(): Promise<void>;
  /** SIGTERM, resolved once it exited. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function ended(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (exited(child)) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** `redis-server` with `args` (a config file and/or `--option value` pairs), killed when this process exits. */
export function spawnRedis(port: number, args: string[]): RedisProcess {
  const child = spawn(binary('redis-server'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  child.once('exit', () => process.removeListener('exit', onExit));
  return {
    port,
    child,
    output: () => output,
    kill: () => ended(child, 'SIGKILL'),
    stop: () => ended(child, 'SIGTERM'),
  };
}

/** One `redis-cli` command against 127.0.0.1:`port`; rejects when it cannot connect or Redis answers an error. */
export function cli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      binary('redis-cli'),
      ['-h', '127.0.0.1', '-p', String(port), ...args],
      { timeout: scaled(5_000), encoding: 'utf8' },
      (err, stdout, stderr) => {
        // redis-cli prints an error reply on stdout (exit 0 or 1 by version) and a connection failure on stderr.
        const out = stdout.trim();
        if (
          err ||
          /^(ERR|WRONGTYPE|NOAUTH|LOADING|CLUSTERDOWN|MASTERDOWN)\b/.test(out) ||
          /^Could not connect/.test(stderr)
        )
          reject(new Error(`redis-cli -p ${port} ${args.join(' ')}: ${(stderr || out || String(err)).trim()}`));
        else resolve(out);
      },
    );
  });
}

/** `field:value` lines of INFO / CLUSTER INFO as a record. */
export function infoFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return fields;
}

/**
 * Resolves with the first truthy value `probe` gives, asking again every 50 ms (a probe that throws counts as not
 * yet); rejects after `timeoutMs` (on an idle machine; multiplied by `timeScale()`) naming `what` and the last
 * observation.
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  idleTimeoutMs = 30_000,
): Promise<T> {
  const timeoutMs = scaled(idleTimeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last: string;
    try {
      const value = await probe();
      if (value) return value;
      last = String(value);
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
