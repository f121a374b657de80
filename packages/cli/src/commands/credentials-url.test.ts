// The CLI run as a process (from the sources): a control-plane URL carrying credentials is refused with a usage
// error that does not repeat it, and expected errors print no stack trace.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const main = fileURLToPath(new URL('../main.ts', import.meta.url));
const secret = 'tp_do-not-print-me-0123456789';

function toolplane(args: string[], env: Record<string, string>, stdin = '') {
  const child = spawn(process.execPath, ['--conditions=@toolplane/source', main, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', XDG_CONFIG_HOME: '/nonexistent', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(stdin);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
}

/** A line of a stack trace (`    at fn (file:line:col)`). */
const stackLine = /^\s+at /m;

describe('a control-plane URL with credentials', () => {
  it('TOOLPLANE_URL=http://user:<key>@host is a usage error that does not echo it (text and --json)', async () => {
    for (const json of [false, true]) {
      const run = await toolplane(['servers', 'list', ...(json ? ['--json'] : [])], {
        TOOLPLANE_URL: `http://user:${secret}@127.0.0.1:9`,
        TOOLPLANE_API_KEY: 'tp_other',
      });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('TOOLPLANE_URL must not contain credentials');
      expect(`${run.stdout}${run.stderr}`).not.toContain(secret);
      expect(`${run.stdout}${run.stderr}`).not.toMatch(stackLine);
      if (json) expect(JSON.parse(run.stdout)).toMatchObject({ error: { exitCode: 2 } });
    }
  });

  it('login --url with credentials is refused the same way', async () => {
    const run = await toolplane(['login', '--url', `https://user:${secret}@cp.example`], {}, 'tp_key\n');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--url must not contain credentials');
    expect(`${run.stdout}${run.stderr}`).not.toContain(secret);
  });

  it('an unreachable control plane is a transient error without a stack trace', async () => {
    const run = await toolplane(['servers', 'list'], {
      TOOLPLANE_URL: 'http://127.0.0.1:9',
      TOOLPLANE_API_KEY: secret,
    });
    expect(run.code).toBe(6);
    expect(run.stderr).toMatch(/cannot reach the control plane at http:\/\/127\.0\.0\.1:9/);
    expect(run.stderr).not.toMatch(stackLine);
    expect(`${run.stdout}${run.stderr}`).not.toContain(secret);
  });
});
