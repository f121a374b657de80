import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from './stack.ts';

// startStack's readiness waits, with fake services (a tiny HTTP server per service, launched through `launch`): each
// answers its readiness check 503 until a file `<service>.ready` exists, counting the checks in `<service>.checks`.
const fakeService = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path');
const [, dir, service, exitCode] = process.argv;
if (exitCode) { console.log(service + ' cannot start'); process.exit(Number(exitCode)); }
let checks = 0;
http.createServer((req, res) => {
  fs.writeFileSync(path.join(dir, service + '.checks'), String(++checks));
  res.statusCode = fs.existsSync(path.join(dir, service + '.ready')) ? 200 : 503;
  res.end();
}).listen(Number(process.env.PORT || process.env.HEALTH_PORT), '127.0.0.1');
`;

const dirs: string[] = [];
const stacks: Stack[] = [];

afterEach(async () => {
  jest.useRealTimers();
  for (const s of stacks.splice(0)) await s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fakeStack(dir: string, exitCodes: Record<string, number> = {}) {
  return startStack({
    dataDir: join(dir, 'data'),
    redisUrl: 'redis://127.0.0.1:1',
    databaseUrl: 'postgresql://unused@127.0.0.1:1/unused',
    launch: (service) => ({
      args: ['-e', fakeService, dir, service, ...(exitCodes[service] ? [String(exitCodes[service])] : [])],
      cwd: dir,
    }),
  });
}

const checks = (dir: string, service: string) => {
  const file = join(dir, `${service}.checks`);
  return existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0;
};

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 20));
}

describe('startStack waits for each service to be ready', () => {
  it('however long an edge takes (minutes on a loaded machine): no deadline, only the answer ends the wait', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stack-ready-'));
    dirs.push(dir);
    for (const s of ['control-plane', 'worker']) writeFileSync(join(dir, `${s}.ready`), '');
    // Only the clock is fake: the wall clock jumps ten minutes while the edge is not ready yet.
    jest.useFakeTimers({
      doNotFake: [
        ...['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate'],
        ...['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'],
      ] as const,
    });
    const starting = fakeStack(dir);
    let outcome: unknown;
    void starting.then(
      (s) => stacks.push(s),
      (err: unknown) => (outcome = err),
    );
    await until(() => checks(dir, 'edge') > 0);
    jest.setSystemTime(Date.now() + 10 * 60_000);
    const before = checks(dir, 'edge');
    await until(() => checks(dir, 'edge') >= before + 3 || outcome !== undefined);
    expect(outcome).toBeUndefined();
    writeFileSync(join(dir, 'edge.ready'), '');
    const stack = await starting;
    expect(stack.processes.map((p) => p.name).sort()).toEqual(['control-plane', 'edge', 'worker-1']);
  }, 60_000);

  it('fails as soon as a service exits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stack-ready-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'control-plane.ready'), '');
    await expect(fakeStack(dir, { edge: 3 })).rejects.toThrow(/edge exited with 3/);
  }, 60_000);
});
