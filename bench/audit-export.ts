// bench/audit-export: the management API's latency while an audit exporter's receiver is up, down (port closed:
// connection refused) or hanging (connections accepted, never answered: the worst case for timeouts), ADR 0065.
// A Splunk HEC exporter and a syslog (TCP, JSON) exporter point at local receivers; closed loops (at each
// `--concurrency`) send a mix that writes audit events (create and revoke an API key, update a server) and a read
// (GET /mcp_manager), in windows of `--window-seconds` interleaved (round by round: each concurrency, each state).
// It prints, per state and concurrency, p50/p95/p99/max and requests/s, the exporters' backlog (events not yet
// acknowledged) at the end of each window, then brings the receivers back, waits until everything was delivered
// and verifies what each receiver got: every event once in order after at-least-once repeats, the chain intact
// (`toolplane audit verify --from-file` on each receiver's file). Not a test: copy the table into docs/benchmarks.md.
//
//   pnpm bench:audit-export [--window-seconds 5] [--rounds 2] [--concurrency "1 8"]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, startStack } from '@toolplane/cli';
import { type components, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { freePort } from '@toolplane/embedded';
import { hecServer, readSyslog, type ReceiverState, switchableReceiver } from '../tests/helpers/audit-receivers.ts';

const { values } = parseArgs({
  options: {
    'window-seconds': { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '1 8' },
  },
});
const windowMs = Number(values['window-seconds']) * 1000;
const rounds = Number(values.rounds);
const concurrencies = values.concurrency
  .split(/[\s,]+/)
  .filter(Boolean)
  .map(Number);
const states: ReceiverState[] = ['up', 'down', 'hanging'];
const HEC_TOKEN = 'bench-hec-token';

type Sample = { ms: number; ok: boolean };
type Window = { state: ReceiverState; concurrency: number; samples: Sample[]; seconds: number; backlog: Backlog };
type Backlog = { hec: number; syslog: number; hecState: string };

const dir = mkdtempSync(join(tmpdir(), 'toolplane-bench-audit-export-'));
const hecFile = join(dir, 'hec.jsonl');
const syslogFile = join(dir, 'syslog.jsonl');
writeFileSync(hecFile, '');
mkdirSync(join(dir, 'stack'));
const syslogBodies: string[] = [];
const hecHttp = hecServer(hecFile, HEC_TOKEN);
const hec = switchableReceiver(await freePort(), (socket) => hecHttp.emit('connection', socket));
const syslog = switchableReceiver(await freePort(), (socket) => readSyslog(socket, (b) => syslogBodies.push(b)));
await Promise.all([hec.set('up'), syslog.set('up')]);

const stack = await startStack({
  dataDir: join(dir, 'stack'),
  logLevel: 'warn',
  // Polled and retried often, so that a down or hanging receiver is tried again within every window.
  serviceEnv: { 'control-plane': { AUDIT_EXPORT_POLL_MS: '500', AUDIT_EXPORT_RETRY_MAX_MS: '2000' } },
});
const api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);

/** One timed request: its latency, and whether it answered as expected. */
async function timed<T>(samples: Sample[], call: () => Promise<{ response: Response; data?: T }>): Promise<T> {
  const t = performance.now();
  const r = await call();
  samples.push({ ms: performance.now() - t, ok: r.response.ok });
  return r.data as T;
}

/** The mix, once: create and revoke an API key, update this loop's server (three audit events), list servers. */
async function mix(client: ManagementClient, serverId: string, n: number, samples: Sample[]): Promise<void> {
  const key = await timed(samples, () => client.POST('/api_keys', { body: { name: `bench-${serverId}-${n}` } }));
  if (key) await timed(samples, () => client.DELETE('/api_keys/{id}', { params: { path: { id: key.id } } }));
  const path = { id: serverId };
  await timed(samples, () => client.PATCH('/mcp_manager/{id}', { params: { path }, body: { description: `${n}` } }));
  await timed(samples, () => client.GET('/mcp_manager', { params: { query: { limit: 20 } } }));
}

/** `concurrency` closed loops of the mix for `ms`; each loop updates a server of its own. */
async function load(concurrency: number, ms: number, servers: string[]): Promise<{ samples: Sample[]; s: number }> {
  const samples: Sample[] = [];
  const start = performance.now();
  const loop = async (serverId: string) => {
    for (let n = 0; performance.now() - start < ms; n++) await mix(api, serverId, n, samples);
  };
  await Promise.all(servers.slice(0, concurrency).map(loop));
  return { samples, s: (performance.now() - start) / 1000 };
}

const exporterIds: Record<'hec' | 'syslog', string> = { hec: '', syslog: '' };

async function backlog(): Promise<Backlog> {
  const status = (id: string) => unwrap(api.GET('/audit_exporters/{id}/status', { params: { path: { id } } }));
  const [h, s] = await Promise.all([status(exporterIds.hec), status(exporterIds.syslog)]);
  const lag = (st: typeof h) => st.cursors.reduce((n, c) => n + c.lag, 0);
  return { hec: lag(h), syslog: lag(s), hecState: st(h) };
}
const st = (s: { state: string; lastError?: string | null }) => (s.lastError ? `${s.state}: ${s.lastError}` : s.state);

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

function report(windows: Window[]): void {
  const f = (n: number) => n.toFixed(1);
  console.log(
    '\n| receivers | concurrency | requests | errors | requests/s | p50 ms | p95 ms | p99 ms | max ms | ' +
      'backlog at window end (HEC / syslog) |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const c of concurrencies) {
    for (const state of states) {
      const ws = windows.filter((w) => w.state === state && w.concurrency === c);
      const ms = ws.flatMap((w) => w.samples.map((s) => s.ms)).sort((a, b) => a - b);
      const errors = ws.reduce((n, w) => n + w.samples.filter((s) => !s.ok).length, 0);
      const rate = ms.length / ws.reduce((n, w) => n + w.seconds, 0);
      const backlogs = ws.map((w) => `${w.backlog.hec} / ${w.backlog.syslog}`).join(', ');
      const cells = [state, c, ms.length, errors, f(rate), ...[50, 95, 99, 100].map((p) => f(percentile(ms, p)))];
      console.log(`| ${cells.join(' | ')} | ${backlogs} |`);
    }
  }
}

/** A receiver's events: each once (repeats of at-least-once skipped), checked complete and in order per chain. */
function checkReceived(name: string, file: string, events: { chain: string; seq: number; hash: string }[]): void {
  const seen = new Set<string>();
  const unique = events.filter((e) => !seen.has(e.hash) && seen.add(e.hash));
  const seqs = unique.map((e) => e.seq);
  const inOrder = seqs.every((s, i) => s === i + 1);
  const out = execFileSync(join(repoRoot, 'scripts/toolplane'), ['audit', 'verify', '--from-file', file, '--json'], {
    encoding: 'utf8',
  });
  const verified = JSON.parse(out) as { checked: number; intact: boolean; duplicates: number };
  console.log(
    `${name}: ${events.length} received, ${unique.length} distinct (${events.length - unique.length} repeats), ` +
      `seq 1..${seqs.at(-1)} ${inOrder ? 'complete and in order' : 'NOT complete or out of order'}; ` +
      `toolplane audit verify --from-file: ${verified.checked} checked, intact ${verified.intact}`,
  );
  if (!inOrder || !verified.intact) process.exitCode = 1;
}

try {
  const exporter = async (name: 'hec' | 'syslog', target: Record<string, unknown>) => {
    const body = { name, target } as components['schemas']['CreateAuditExporterBody'];
    exporterIds[name] = (await unwrap(api.POST('/audit_exporters', { body }))).id;
  };
  await exporter('hec', { type: 'splunk_hec', url: `http://127.0.0.1:${hec.port}`, token: HEC_TOKEN });
  await exporter('syslog', { type: 'syslog', host: '127.0.0.1', port: syslog.port });
  const servers: string[] = [];
  for (let i = 0; i < Math.max(...concurrencies); i++)
    servers.push((await unwrap(api.POST('/mcp_manager', { body: { name: `bench-${i}` } }))).id);
  await load(Math.max(...concurrencies), 1000, servers); // warm-up
  const windows: Window[] = [];
  for (let r = 0; r < rounds; r++)
    for (const concurrency of concurrencies)
      for (const state of states) {
        await Promise.all([hec.set(state), syslog.set(state)]);
        const { samples, s } = await load(concurrency, windowMs, servers);
        const b = await backlog();
        windows.push({ state, concurrency, samples, seconds: s, backlog: b });
        console.log(
          `round ${r + 1}, c=${concurrency}, ${state}: ${samples.length} requests in ${s.toFixed(1)} s; ` +
            `backlog HEC ${b.hec}, syslog ${b.syslog} (HEC exporter ${b.hecState})`,
        );
      }
  await Promise.all([hec.set('up'), syslog.set('up')]);
  const back = performance.now();
  const drained = async () => {
    const b = await backlog();
    return b.hec === 0 && b.syslog === 0;
  };
  while (!(await drained())) {
    if (performance.now() - back > 60_000) throw new Error('the backlog was not delivered within 60 s');
    await new Promise((res) => setTimeout(res, 100));
  }
  console.log(`\nreceivers back: the backlog was delivered within ${((performance.now() - back) / 1000).toFixed(1)} s`);
  report(windows);
  console.log();
  const hecEvents = readFileSync(hecFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { event: { chain: string; seq: number; hash: string } }).event);
  checkReceived('HEC', hecFile, hecEvents);
  writeFileSync(syslogFile, syslogBodies.map((b) => `${b}\n`).join(''));
  checkReceived(
    'syslog',
    syslogFile,
    syslogBodies.map((b) => JSON.parse(b) as { chain: string; seq: number; hash: string }),
  );
} finally {
  await stack.stop();
  await Promise.all([hec.set('down'), syslog.set('down')]);
  rmSync(dir, { recursive: true, force: true });
}
