// The jest part of the test command. Starts Redis, PostgreSQL and moto_server once
// (tests/setup/global-setup.js), runs the colocated unit tests in one jest process, then every file
// under tests/ in a jest process of its own, two at a time. A file whose process does not exit by
// itself once its results are written (an open handle) fails the run, so any file run alone exits.
// Every stack a test starts checks the management API against docs/openapi.json (tests/contract/); a
// full run (no path patterns) also fails when some documented operation was called by no test.
// Ends with the plain line "N passed, N failed".
//
//   node scripts/run-tests.ts [jest options] [path patterns]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timeScale } from '../packages/embedded/src/time-scale.ts';
import { contractReport } from '../tests/contract/api-contract.ts';
import globalSetup from '../tests/setup/global-setup.js';
import globalTeardown from '../tests/setup/global-teardown.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const jestBin = join(root, 'node_modules/jest/bin/jest.js');
const nodeArgs = ['--experimental-vm-modules', '--no-warnings=ExperimentalWarning', jestBin];
/**
 * How much slower than an idle machine this run may be (packages/embedded/src/time-scale.ts): fixed once here, from
 * TEST_TIME_SCALE or CI=true and the load when the run starts, and given to every jest process, whose test and hook
 * timeouts (tests/setup/environment.js) and waits (tests/helpers/wait.ts, the embedded servers) it multiplies.
 */
process.env.TEST_TIME_SCALE = String(timeScale());
const scale = Number(process.env.TEST_TIME_SCALE);
/** How long a jest process may take to exit after writing its results before it counts as hung. */
const exitGraceMs = Number(process.env.TEST_EXIT_GRACE_MS ?? 15_000 * scale);
/** One file (or the unit group) may not take longer than this (a hang guard: 15 minutes on an idle machine). */
const fileTimeoutMs = 15 * 60_000 * scale;
const parallel = 2;

/** Jest options that take a value as the next argument (the rest of the arguments are path patterns). */
const valued = new Set(['-t', '--testNamePattern', '--maxWorkers', '-w', '--testTimeout', '--seed', '--shard']);
const options: string[] = [];
const patterns: string[] = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (!a.startsWith('-')) patterns.push(a);
  else {
    options.push(a);
    if (valued.has(a) && i + 1 < argv.length) options.push(argv[++i]!);
  }
}

interface Outcome {
  label: string;
  passed: number;
  failed: number;
  skipped: number;
  problems: string[];
  seconds: number;
}

function listTests(): string[] {
  const r = spawnSync(process.execPath, [...nodeArgs, '--listTests', '--json', ...patterns], {
    cwd: root,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`jest --listTests failed:\n${r.stdout}${r.stderr}`);
  return (JSON.parse(r.stdout) as string[]).map((f) => relative(root, f)).sort();
}

/**
 * Files run once more on each other Redis form (TEST_REDIS_FORM: a Redis Cluster with the queue in shards, and
 * Sentinel; started once for the run by the global setup): the walking skeleton, the worker-kill faults with their
 * leases, rate limits, the protocol's sessions, the debug stream, and the listen bus and subscriptions with the
 * relay, and MCP Events' inbound deliveries, fan-out and webhook deliveries. Each file's own prefix keeps it apart
 * on the shared setups (a file on a Redis of its own stays on it).
 */
const onEveryForm = [
  'tests/e2e/calls/walking-skeleton.test.ts',
  'tests/e2e/faults/worker-crash.test.ts',
  'tests/e2e/calls/rate-limits.test.ts',
  'tests/e2e/calls/protocol.test.ts',
  'tests/e2e/observability/debug-sessions.test.ts',
  'tests/e2e/calls/mcp-features.test.ts',
  'tests/e2e/events/inbound.test.ts',
];
const otherForms = ['cluster', 'sentinel'];

const running = new Set<ChildProcess>();

function killTree(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL'); // its own process group: services it started go too
  } catch {
    child.kill('SIGKILL');
  }
}

/** Runs jest on `files` in a process of its own; resolves with what it counted and what went wrong. */
function runJest(label: string, files: string[], outDir: string, n: number, env: NodeJS.ProcessEnv): Promise<Outcome> {
  const started = Date.now();
  const outputFile = join(outDir, `${n}.json`);
  const child = spawn(
    process.execPath,
    [...nodeArgs, '--ci', '--json', `--outputFile=${outputFile}`, ...options, '--runTestsByPath', ...files],
    { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  running.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const problems: string[] = [];
  return new Promise((done) => {
    let resultsAt: number | undefined;
    // jest writes its results file, then exits once nothing keeps the event loop alive.
    const watch = setInterval(() => {
      const now = Date.now();
      if (resultsAt === undefined && existsSync(outputFile)) resultsAt = now;
      if (resultsAt !== undefined && now - resultsAt > exitGraceMs) {
        problems.push(
          `${label}: jest did not exit ${exitGraceMs / 1000} s after its tests ended (an open handle: ` +
            `run \`bash scripts/test.sh ${files[0]} --detectOpenHandles\` to find it)`,
        );
        killTree(child);
      } else if (now - started > fileTimeoutMs) {
        problems.push(`${label}: still running after ${fileTimeoutMs / 60_000} min`);
        killTree(child);
      }
    }, 250);
    child.on('close', (code, signal) => {
      running.delete(child);
      clearInterval(watch);
      const outcome: Outcome = { label, passed: 0, failed: 0, skipped: 0, problems, seconds: 0 };
      outcome.seconds = (Date.now() - started) / 1000;
      if (existsSync(outputFile)) {
        const r = JSON.parse(readFileSync(outputFile, 'utf8')) as Record<string, number>;
        outcome.passed = r.numPassedTests!;
        outcome.failed = r.numFailedTests! + r.numRuntimeErrorTestSuites!;
        outcome.skipped = r.numPendingTests! + r.numTodoTests!;
      } else problems.push(`${label}: jest wrote no results (exit ${code ?? signal})`);
      if (code !== 0 && outcome.failed === 0 && problems.length === 0) problems.push(`${label}: jest exited ${code}`);
      process.stdout.write(output);
      done(outcome);
    });
  });
}

/** The contract's coverage over the whole run: every documented operation called at least once. */
function coverage(contractDir: string): Outcome {
  const { uncovered } = contractReport(contractDir);
  const outcome: Outcome = {
    label: 'API contract coverage',
    passed: 0,
    failed: 0,
    skipped: 0,
    problems: [],
    seconds: 0,
  };
  if (uncovered.length === 0) outcome.passed = 1;
  else
    outcome.problems.push(
      `no test called these operations of docs/openapi.json (cover each in an e2e test): ${uncovered.join(', ')}`,
    );
  console.log(`API contract: ${uncovered.length === 0 ? 'every operation covered' : `${uncovered.length} uncovered`}`);
  return outcome;
}

async function main(): Promise<number> {
  // A file of onEveryForm that was moved or renamed would silently lose its runs on the other forms.
  const gone = onEveryForm.filter((f) => !existsSync(join(root, f)));
  if (gone.length > 0) {
    console.error(`onEveryForm (scripts/run-tests.ts) names files that do not exist: ${gone.join(', ')}`);
    return 1;
  }
  const files = listTests();
  if (files.length === 0) {
    console.error(`no test files match ${patterns.join(' ')}`);
    return 1;
  }
  // Colocated unit tests share one process (fakes only, nothing to leak across files); everything
  // under tests/ starts real processes and gets a process of its own.
  const units = files.filter((f) => !f.startsWith('tests/'));
  const alone = files.filter((f) => f.startsWith('tests/'));

  const jobs: { label: string; file: string; form?: string }[] = alone.map((f) => ({ label: f, file: f }));
  for (const form of otherForms)
    for (const f of alone.filter((x) => onEveryForm.includes(x))) jobs.push({ label: `${f} [${form}]`, file: f, form });
  // Larger files first (the form runs among them): the two slots end closer together.
  const size = (f: string) => readFileSync(join(root, f)).length;
  jobs.sort((a, b) => size(b.file) - size(a.file));
  if (jobs.some((j) => j.form)) process.env.TEST_REDIS_FORMS = otherForms.join(',');
  console.log(`time scale ${scale} (TEST_TIME_SCALE; CI=${process.env.CI ?? ''}): test timeouts and waits × ${scale}`);
  await globalSetup();
  const outDir = mkdtempSync(join(tmpdir(), 'toolplane-jest-'));
  const contractDir = mkdtempSync(join(tmpdir(), 'toolplane-contract-'));
  const env = { ...process.env, TOOLPLANE_CONTRACT_DIR: contractDir };
  const outcomes: Outcome[] = [];
  let n = 0;
  try {
    if (units.length > 0) outcomes.push(await runJest(`unit tests (${units.length} files)`, units, outDir, n++, env));
    const queue = [...jobs];
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        for (let j = queue.shift(); j !== undefined; j = queue.shift())
          outcomes.push(
            await runJest(j.label, [j.file], outDir, n++, j.form ? { ...env, TEST_REDIS_FORM: j.form } : env),
          );
      }),
    );
    if (patterns.length === 0) outcomes.push(coverage(contractDir));
  } finally {
    rmSync(contractDir, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
    await globalTeardown();
  }

  const sum = (k: 'passed' | 'failed' | 'skipped') => outcomes.reduce((s, o) => s + o[k], 0);
  const problems = outcomes.flatMap((o) => o.problems);
  const slowest = [...outcomes].sort((a, b) => b.seconds - a.seconds).slice(0, 10);
  console.log(`\nslowest: ${slowest.map((o) => `${o.label} ${o.seconds.toFixed(0)} s`).join(', ')}`);
  for (const p of problems) console.error(`\u2717 ${p}`);
  const skipped = sum('skipped');
  if (skipped > 0) console.error('skipped or todo tests are not allowed');
  const failed = sum('failed') + problems.length;
  console.log(`\n${sum('passed')} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  return failed > 0 || skipped > 0 ? 1 : 0;
}

// Interrupted (Ctrl-C, or the test command's overall timeout): no jest process or service outlives the run.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const c of running) killTree(c);
    void globalTeardown().finally(() => process.exit(1));
  });
}

// Explicit: exit hooks of the embedded services must not turn a failed run into exit 0.
process.exit(await main());
