import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort } from './redis-server.ts';
import { scaled } from './time-scale.ts';

/**
 * moto_server, a real AWS API emulator (Secrets Manager among others), for the tests of the AWS
 * secrets backend. Found on PATH, else in pyenv's shims; `MOTO_SERVER_BIN` names it explicitly.
 */
function motoServerBinary(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.MOTO_SERVER_BIN) return existsSync(env.MOTO_SERVER_BIN) ? env.MOTO_SERVER_BIN : undefined;
  const r = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' });
  const onPath = r.stdout.trim();
  if (r.status === 0 && onPath) return onPath;
  for (const p of [
    `${env.HOME ?? '/root'}/.pyenv/shims/moto_server`,
    '/root/.pyenv/shims/moto_server',
    '/usr/local/bin/moto_server',
  ])
    if (existsSync(p)) return p;
  return undefined;
}

export interface MotoHandle {
  /** Endpoint URL for AWS SDK clients (`endpoint`), e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  process: ChildProcess;
  /** Region and static credentials the emulator accepts (any work; these are conventional). */
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

/** Starts moto_server on 127.0.0.1 on a free port and resolves once it answers HTTP. */
export async function startMotoServer(opts: { port?: number; timeoutMs?: number } = {}): Promise<MotoHandle> {
  const bin = motoServerBinary();
  if (!bin) throw new Error('moto_server is not installed (pip install "moto[server]"), or set MOTO_SERVER_BIN');
  const port = opts.port ?? (await freePort());
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const onExit = () => child.kill('SIGTERM');
  process.once('exit', onExit);
  const stop = () =>
    new Promise<void>((resolve) => {
      process.removeListener('exit', onExit);
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  const timeoutMs = opts.timeoutMs ?? scaled(30_000);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      process.removeListener('exit', onExit);
      throw new Error(`moto_server exited with ${child.exitCode}: ${output}`);
    }
    try {
      const res = await fetch(`${url}/moto-api/`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not start within ${timeoutMs} ms: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    process: child,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    stop,
  };
}
