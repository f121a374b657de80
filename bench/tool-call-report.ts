// What bench/tool-call.ts measures over each run's window, and how it prints and stores it: CPU per call by role
// (bench/cpu.ts), the system part, system calls, peak RSS; the human summary and the JSON result file.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpuPerCall, cpuSnapshot, formatCpuPerCall, stackRoles, type CpuPerCall, type MeasuredProcess } from './cpu.ts';
import type { LoadResult } from './load.ts';

/** The processes' counters at one instant (`us`: the monotonic clock in µs, the clock V8's CPU profiles use). */
export interface Snapshot {
  cpu: number[];
  sys: number[];
  io: (readonly [number, number])[];
  us: number;
}

/** A load run, with what the processes spent over its measured window when the CPU breakdown is on. */
export interface MeasuredRun extends LoadResult {
  cpu?: CpuPerCall;
  /** The measured window on the monotonic clock (µs): `bench/profile-summary.ts --window` keeps a profile's samples in it. */
  window?: { startUs: number; endUs: number };
  sysMsPerCall?: Record<string, number>;
  /** Read and write system calls per call, by process (not PostgreSQL: its backends are other processes). */
  syscallsPerCall?: Record<string, [number, number]>;
  seen?: { peakRssMb: number[]; inFlight: { peak: number; mean: number } };
  idleRssMb?: number[];
}

/** Read and write system calls of a process so far (`syscr`, `syscw` in /proc/<pid>/io); 0 once it ended. */
export function syscalls(pid: number): readonly [number, number] {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    return [Number(/syscr: (\d+)/.exec(io)?.[1]), Number(/syscw: (\d+)/.exec(io)?.[1])];
  } catch {
    return [0, 0];
  }
}

/** The figures of one window, per call. */
export function windowFigures(procs: MeasuredProcess[], start: Snapshot, end: Snapshot, calls: number) {
  const n = Math.max(1, calls);
  const sysMsPerCall: Record<string, number> = {};
  const syscallsPerCall: Record<string, [number, number]> = {};
  procs.forEach((p, i) => {
    if (p.role === 'postgres') return;
    sysMsPerCall[p.name] = (end.sys[i]! - start.sys[i]!) / n;
    syscallsPerCall[p.name] = [(end.io[i]![0] - start.io[i]![0]) / n, (end.io[i]![1] - start.io[i]![1]) / n];
  });
  return {
    cpu: cpuPerCall(procs, start.cpu, end.cpu, calls),
    window: { startUs: start.us, endUs: end.us },
    sysMsPerCall,
    syscallsPerCall,
  };
}

/** The per-process lines of one run (CPU with its system part, system calls, peak RSS, calls in flight). */
export function processLines(procs: MeasuredProcess[], run: MeasuredRun): string[] {
  if (!run.cpu) return [];
  const head = `c=${run.concurrency} ${run.label}:`;
  const cpu = procs.map((p) => {
    const sys = p.name in run.sysMsPerCall! ? ` [sys ${run.sysMsPerCall![p.name]!.toFixed(3)}]` : '';
    return `${p.name} ${run.cpu!.byProcess[p.name]!.toFixed(3)}${sys}`;
  });
  const io = Object.entries(run.syscallsPerCall!).map(([name, [r, w]]) => `${name} ${r.toFixed(2)} / ${w.toFixed(2)}`);
  const rss = procs.map(
    (p, i) => `${p.name} ${run.seen!.peakRssMb[i]!.toFixed(0)} (idle ${run.idleRssMb![i]!.toFixed(0)})`,
  );
  return [
    `${head} ${formatCpuPerCall(run.cpu)}`,
    `${head} ${cpu.join(', ')} (CPU ms per call, the system part in brackets)`,
    `${head} ${io.join(', ')} (read / write system calls per call)`,
    `${head} ${rss.join(', ')} (peak RSS MB, idle before the runs in brackets); calls in flight: edges ` +
      `${run.concurrency} (the load's loops), workers ${run.seen!.inFlight.peak} at most, ` +
      `${run.seen!.inFlight.mean.toFixed(0)} on average (BullMQ active jobs)`,
  ];
}

/** The cost table (CPU ms per call by role), one row per measured run: the form of docs/benchmarks.md's table. */
export function costTable(runs: MeasuredRun[]): string {
  const rows = runs.flatMap((r) => {
    if (!r.cpu) return [];
    const f = (role: string) => (r.cpu!.byRole[role as keyof CpuPerCall['byRole']] ?? 0).toFixed(3);
    return [
      `| ${r.label} | ${r.concurrency} | ${r.throughput.toFixed(0)} | ${stackRoles.map(f).join(' | ')} | ` +
        `**${r.cpu.sum.toFixed(3)}** | ${f('upstream')} | ${r.cpu.ratioToUpstream.toFixed(2)} |`,
    ];
  });
  return [
    "CPU per call (ms), over each run's measured window:",
    '| path | C | calls/s | edge | worker | Redis | PostgreSQL | control plane | sum | upstream | (edge+worker+Redis) ÷ upstream |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

/** CPU ms per second of each role over `seconds` with no load (the "calls" of `cpuPerCall` are the seconds). */
export async function idleCpu(procs: MeasuredProcess[], seconds: number): Promise<CpuPerCall> {
  const before = cpuSnapshot(procs);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const after = cpuSnapshot(procs);
  return cpuPerCall(procs, before, after, Number(process.hrtime.bigint() - t0) / 1e9);
}

export function formatIdle(idle: CpuPerCall): string {
  const f = (role: string) => (idle.byRole[role as keyof CpuPerCall['byRole']] ?? 0).toFixed(1);
  return (
    `edge ${f('edge')} / worker ${f('worker')} / Redis ${f('redis')} / PostgreSQL ${f('postgres')} / ` +
    `control plane ${f('control-plane')} = ${idle.sum.toFixed(1)} CPU ms per second`
  );
}

/** The commit measured (with `+dirty` when the work tree differs from it). */
export function commitMeasured(cwd: string): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
  try {
    return git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--untracked-files=no') ? '+dirty' : '');
  } catch {
    return 'unknown';
  }
}

/** Writes the run's results as JSON (the options, the machine, every run with its CPU figures). */
export function writeResults(file: string, result: Record<string, unknown>): void {
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
}
