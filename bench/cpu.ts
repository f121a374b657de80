// CPU time of the stack's processes from /proc, for CPU milliseconds per call by role (edge, worker, Redis,
// PostgreSQL, control plane) over a measured window. Each process counts with its whole process tree: its own
// utime + stime (all its threads), every live descendant's, and the children it has reaped (cutime + cstime), so a
// PostgreSQL backend that ended during the window, or a helper process a service starts, is not lost.
import { readdirSync, readFileSync } from 'node:fs';

/** What a process is for in the cost table; `upstream` and `bench` are measured but not part of the stack's sum. */
type Role = 'edge' | 'worker' | 'redis' | 'postgres' | 'control-plane' | 'upstream' | 'bench';

/** The roles that serve a call, summed into its cost (the upstream stands in for the API, the bench for the agent). */
export const stackRoles = ['edge', 'worker', 'redis', 'postgres', 'control-plane'] as const;

export interface MeasuredProcess {
  name: string;
  pid: number;
  role: Role;
  /** Only the process itself, not its tree (the bench: its children are the stack). */
  ownOnly?: boolean;
}

/** USER_HZ: /proc counts CPU time in these ticks (100 per second on Linux). */
const ticksPerSecond = 100;

/** The fields after the command of /proc/<pid>/stat: [0] state, [1] ppid, … [11] utime, [12] stime, [13] cutime, [14] cstime. */
function statFields(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  } catch {
    return undefined; // ended meanwhile
  }
}

const ticksToMs = (ticks: number) => (ticks * 1000) / ticksPerSecond;

/** Every live process's parent, read once per snapshot. */
function parents(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(Number(entry))?.[1]);
    if (!ppid) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  return children;
}

/** CPU ms of a process tree: the root's own and reaped children's time, and each live descendant's own time. */
function treeCpuMs(root: number, children: Map<number, number[]>): number {
  const fields = statFields(root);
  if (!fields) return 0;
  let ms = ticksToMs(Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]));
  // A live child's time (and what it reaped) is in no ancestor's cutime until the child itself is reaped.
  for (const child of children.get(root) ?? []) ms += treeCpuMs(child, children);
  return ms;
}

/** One snapshot: each measured process's tree CPU ms. */
export function cpuSnapshot(procs: MeasuredProcess[]): number[] {
  const children = parents();
  return procs.map((p) => (p.ownOnly ? ownCpuMs(p.pid) : treeCpuMs(p.pid, children)));
}

/** A process's own CPU ms (all its threads), without its children. */
function ownCpuMs(pid: number): number {
  const fields = statFields(pid);
  return fields ? ticksToMs(Number(fields[11]) + Number(fields[12])) : 0;
}

/** The kernel's part of a process's own CPU time (stime): system calls, and on a VM their exits. */
export function sysMs(pid: number): number {
  const fields = statFields(pid);
  return fields ? ticksToMs(Number(fields[12])) : 0;
}

export interface CpuPerCall {
  /** CPU ms per call by role (the sum of that role's processes), `upstream` and `bench` included. */
  byRole: Partial<Record<Role, number>>;
  /** edge + worker + Redis + PostgreSQL + control plane: what the stack spends per call. */
  sum: number;
  /** (edge + worker + Redis) ÷ upstream: the ratio that holds when calls/s swing with the host (AGENTS.md). */
  ratioToUpstream: number;
  /** CPU ms per call of each process by name. */
  byProcess: Record<string, number>;
}

/** CPU per call over a window from two snapshots. */
export function cpuPerCall(procs: MeasuredProcess[], before: number[], after: number[], calls: number): CpuPerCall {
  const byRole: Partial<Record<Role, number>> = {};
  const byProcess: Record<string, number> = {};
  procs.forEach((p, i) => {
    const ms = (after[i]! - before[i]!) / Math.max(1, calls);
    byProcess[p.name] = ms;
    byRole[p.role] = (byRole[p.role] ?? 0) + ms;
  });
  const sum = stackRoles.reduce((a, r) => a + (byRole[r] ?? 0), 0);
  const core = (byRole.edge ?? 0) + (byRole.worker ?? 0) + (byRole.redis ?? 0);
  return { byRole, sum, ratioToUpstream: core / (byRole.upstream || NaN), byProcess };
}

/** `edge 0.180 / worker 0.260 / Redis 0.100 / PostgreSQL 0.000 / control plane 0.001 = 0.541 ms per call (…)`. */
export function formatCpuPerCall(c: CpuPerCall): string {
  const f = (r: Role) => (c.byRole[r] ?? 0).toFixed(3);
  return (
    `edge ${f('edge')} / worker ${f('worker')} / Redis ${f('redis')} / PostgreSQL ${f('postgres')} / ` +
    `control plane ${f('control-plane')} = ${c.sum.toFixed(3)} ms per call ` +
    `(upstream ${f('upstream')}, bench ${f('bench')}; edge+worker+Redis ÷ upstream ${c.ratioToUpstream.toFixed(2)})`
  );
}
