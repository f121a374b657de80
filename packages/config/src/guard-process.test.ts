import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

// guardProcess in a real child process: an unhandled rejection is logged and the process keeps
// serving; an uncaught exception is logged and ends the process with status 1.
const index = fileURLToPath(new URL('./index.ts', import.meta.url));

describe('guardProcess', () => {
  it('logs an unhandled rejection and keeps running; logs an uncaught exception and exits 1', () => {
    const script = `
      import { guardProcess } from ${JSON.stringify(index)};
      guardProcess({
        error: (o, m) => console.log('error: ' + m + ': ' + o.err.message),
        fatal: (o, m) => console.log('fatal: ' + m + ': ' + o.err.message),
      });
      Promise.reject(new Error('redis went away'));
      setTimeout(() => {
        console.log('still serving');
        throw new Error('broken invariant');
      }, 20);
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stdout.trim().split('\n')).toEqual([
      'error: unhandled promise rejection (the process keeps serving): redis went away',
      'still serving',
      'fatal: uncaught exception: exiting: broken invariant',
    ]);
    expect(r.status).toBe(1);
  });
});
