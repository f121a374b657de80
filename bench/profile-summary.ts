// bench/profile-summary: where a service's CPU goes, from the V8 CPU profiles `pnpm bench:tool-call --cpu-prof DIR`
// writes. For each .cpuprofile: its self time by category (JSON, schema validation, the MCP SDK, BullMQ/ioredis,
// OpenTelemetry, logging, undici, express, Node's http/net/streams, timers, our code by file, GC, …) with each
// category's share of the process's CPU, and the functions with the most self time.
//
//   node --conditions=@toolplane/source bench/profile-summary.ts DIR_OR_FILES… [--results tool-call.json]
//        [--concurrency 32] [--label 'tools/call via Toolplane'] [--top 25] [--json]
//
// With `--results` (the bench's JSON result file) only the samples inside that run's measured window count (V8 and
// the bench both stamp with the monotonic clock), each profile is named by its process (the pids are in the file),
// and the figures are also given in µs per call. A native frame with no script (a system call such as `writev`,
// `digest`, a RegExp, the microtask queue) is charged to the nearest caller that has one, except JSON.parse and
// JSON.stringify, which are a category of their own; GC and V8's `(program)` are their own categories.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Packages by the category they count in. */
const packageCategories: [RegExp, string][] = [
  [/^(zod|ajv|ajv-formats|fast-uri|json-schema-traverse|fast-deep-equal|@cfworker\/json-schema)$/, 'schema validation'],
  [/^@modelcontextprotocol\//, 'MCP SDK'],
  [/^(bullmq|msgpackr|cron-parser|node-abort-controller|semver|uuid)$/, 'BullMQ'],
  [/^(ioredis|@ioredis\/.*|redis-parser|redis-errors|denque|cluster-key-slot|standard-as-callback)$/, 'ioredis'],
  [/^@opentelemetry\//, 'OpenTelemetry'],
  [
    /^(pino|pino-.*|sonic-boom|thread-stream|fast-redact|@pinojs\/.*|quick-format-unescaped|atomic-sleep)$/,
    'logging (pino)',
  ],
  [/^undici$/, 'undici (upstream HTTP)'],
  [
    new RegExp(
      '^(express|router|body-parser|raw-body|finalhandler|send|serve-static|content-type|type-is|accepts|negotiator|' +
        'mime-.*|media-typer|qs|on-finished|iconv-lite|statuses|http-errors|depd|debug|ms|cookie|vary|cors|' +
        'path-to-regexp|parseurl|encodeurl|escape-html|etag|fresh|merge-descriptors|proxy-addr|range-parser|' +
        'setprototypeof)$',
    ),
    'express and its helpers',
  ],
];

/** The package a node_modules path belongs to (`@scope/name` or `name`), from the last `node_modules/`. */
function packageOf(url: string): string {
  const rest = url.slice(url.lastIndexOf('/node_modules/') + '/node_modules/'.length).split('/');
  return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
}

/** Node's own modules, grouped by what they do for a call. */
function nodeCategory(url: string): string {
  if (
    /_http_|internal\/http|internal\/(net|stream_base|streams)|^node:(net|stream|http|https|dns)$|internal\/url|node:url/.test(
      url,
    )
  )
    return "Node's http, net, streams";
  if (
    /internal\/timers|task_queues|node:timers|internal\/process\/|node:events|internal\/event_target|internal\/abort/.test(
      url,
    )
  )
    return "Node's timers, events, nextTick";
  return "Node's other modules";
}

/** A frame's category and, for our code, its file; undefined for a native frame charged to its caller. */
function categoryOf(frame: CallFrame, caller?: CallFrame): { category: string; file?: string } | undefined {
  const { functionName: name, url } = frame;
  if (name === '(garbage collector)') return { category: 'GC' };
  if (name === '(program)') return { category: "V8 (program: compiling, IC misses, the runtime's C++)" };
  if (name === '(idle)') return { category: '(idle)' };
  if (name === '(root)') return { category: '(root)' };
  // Native frames and WebAssembly (undici's llhttp parser; QuickJS in code mode) count for the code that called them.
  if (!url || url.startsWith('wasm://')) {
    // JSON.parse and JSON.stringify seldom show as frames of their own (V8 counts them in the caller's self time);
    // a native `parse` under `new URL` is the URL parser.
    if (/^(parse|stringify|JSONParse|JSONStringify)$/.test(name) && !/\burl\b/.test(caller?.url ?? ''))
      return { category: 'JSON parse/stringify' };
    if (/^(write|writev|writeBuffer|writeUtf8String|writeLatin1String|readStart|readStop)$/.test(name))
      return { category: 'socket system calls (native writes)' };
    return undefined;
  }
  if (url.includes('/node_modules/')) {
    const pkg = packageOf(url);
    const match = packageCategories.find(([re]) => re.test(pkg));
    return { category: match ? match[1] : `other packages (${pkg})` };
  }
  if (url.startsWith('node:')) return { category: nodeCategory(url) };
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (path.startsWith(repoRoot)) return { category: 'our code', file: relative(repoRoot, path) };
  return { category: `other scripts (${url})` };
}

interface Summary {
  totalMs: number;
  idleMs: number;
  categories: Map<string, number>;
  ourFiles: Map<string, number>;
  functions: Map<string, number>;
  /** With `--callers`: the matching functions' self time by the chain of their callers (`--depth` frames up). */
  callers: Map<string, number>;
}

const frameLabel = (f: CallFrame) =>
  `${f.functionName || '(anonymous)'}` +
  (f.url ? ` ${f.url.replace(/^file:\/\//, '').replace(repoRoot, '')}:${f.lineNumber + 1}` : ' (native)');

/** Self time per node within [fromUs, toUs] (V8's monotonic µs); the sample's time is the delta after it. */
function selfTimes(p: CpuProfile, fromUs: number, toUs: number): Map<number, number> {
  const self = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (t < fromUs || t > toUs) continue;
    const dt = p.timeDeltas[i + 1] ?? 0;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
  }
  return self;
}

function summarise(p: CpuProfile, fromUs: number, toUs: number, callersOf?: RegExp): Summary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const s: Summary = {
    totalMs: 0,
    idleMs: 0,
    categories: new Map(),
    ourFiles: new Map(),
    functions: new Map(),
    callers: new Map(),
  };
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  for (const [id, us] of selfTimes(p, fromUs, toUs)) {
    const node = byId.get(id)!;
    const ms = us / 1000;
    const callerId = parent.get(id);
    let cat = categoryOf(node.callFrame, callerId === undefined ? undefined : byId.get(callerId)!.callFrame);
    for (let up = parent.get(id); !cat && up !== undefined; up = parent.get(up))
      cat = categoryOf(byId.get(up)!.callFrame);
    cat ??= { category: 'native, no caller with a script' };
    if (cat.category === '(idle)') {
      s.idleMs += ms;
      continue;
    }
    s.totalMs += ms;
    add(s.categories, cat.category, ms);
    if (cat.file) add(s.ourFiles, cat.file, ms);
    const label = frameLabel(node.callFrame);
    add(s.functions, label, ms);
    if (callersOf?.test(label)) {
      const chain: string[] = [];
      for (let up = parent.get(id); up !== undefined && chain.length < Number(values.depth); up = parent.get(up))
        chain.push(frameLabel(byId.get(up)!.callFrame));
      add(s.callers, `${label} ← ${chain.join(' ← ')}`, ms);
    }
  }
  return s;
}

interface RunInfo {
  label: string;
  concurrency: number;
  requests: number;
  window?: { startUs: number; endUs: number };
  cpu?: { byProcess: Record<string, number> };
}
interface Results {
  processes: { name: string; pid: number }[];
  runs: RunInfo[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    results: { type: 'string' },
    concurrency: { type: 'string', default: '32' },
    label: { type: 'string', default: 'tools/call via Toolplane' },
    top: { type: 'string', default: '25' },
    json: { type: 'boolean', default: false },
    /** Also list the callers (`--depth` frames up) of the functions whose label matches this regular expression. */
    callers: { type: 'string' },
    depth: { type: 'string', default: '3' },
  },
});
const files = positionals.flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(p, f))
    : [p],
);
const results = values.results ? (JSON.parse(readFileSync(values.results, 'utf8')) as Results) : undefined;
const run = results?.runs.find((r) => r.label === values.label && r.concurrency === Number(values.concurrency));
if (results && !run?.window)
  throw new Error(`no measured run "${values.label}" at C=${values.concurrency} in the results`);

/** Rows of `ms` by key, largest first, each with its share of `total` and, given the process's CPU µs per call, that share of it. */
const table = (m: Map<string, number>, total: number, usPerCall: number | undefined, limit: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([k, ms]) => {
      const us = usPerCall ? ` ${((ms / total) * usPerCall).toFixed(1).padStart(6)} µs/call` : '';
      return `  ${((ms / total) * 100).toFixed(1).padStart(5)} %${us} ${ms.toFixed(0).padStart(7)} ms  ${k}`;
    })
    .join('\n');

const out: Record<string, unknown>[] = [];
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(file)?.[1]);
  const name = results?.processes.find((p) => p.pid === pid)?.name ?? `pid ${pid}`;
  const callersOf = values.callers ? new RegExp(values.callers) : undefined;
  const s = summarise(profile, run?.window?.startUs ?? -Infinity, run?.window?.endUs ?? Infinity, callersOf);
  if (s.totalMs === 0) continue;
  // The profiler's samples count wall time while a process runs (and while it waits for a core on a busy machine):
  // its shares are what it says; the µs per call are those shares of the CPU per call /proc measured in the run.
  const measuredMs = run?.cpu?.byProcess[name];
  const usPerCall = measuredMs === undefined ? undefined : measuredMs * 1000;
  if (values.json) {
    const categories = Object.fromEntries([...s.categories].map(([k, ms]) => [k, ms / s.totalMs]));
    out.push({ file, name, sampledMs: s.totalMs, idleMs: s.idleMs, usPerCall, shares: categories });
    continue;
  }
  console.log(
    `\n## ${name} (${file})\n${s.totalMs.toFixed(0)} ms sampled busy in the window, ${s.idleMs.toFixed(0)} ms idle` +
      (usPerCall ? `; ${usPerCall.toFixed(0)} µs of CPU per call measured (/proc) over ${run!.requests} calls` : '') +
      `\n\nby category (self time):\n${table(s.categories, s.totalMs, usPerCall, 40)}` +
      `\n\nour code by file:\n${table(s.ourFiles, s.totalMs, usPerCall, 15)}` +
      `\n\ntop functions by self time:\n${table(s.functions, s.totalMs, usPerCall, Number(values.top))}` +
      (callersOf ? `\n\ncallers of /${values.callers}/:\n${table(s.callers, s.totalMs, usPerCall, 20)}` : ''),
  );
}
if (values.json) console.log(JSON.stringify(out, null, 2));
