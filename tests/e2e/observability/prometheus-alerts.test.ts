// The alert rules (k8s/monitoring/rules.yaml) in the real Prometheus server (Debian's `prometheus` package,
// scripts/toolchain.sh `ensure_promtool`) against a live stack: every rule evaluates without error on the services'
// real series, no alert is active while all is well, stopping Redis makes ToolplaneRedisUnreachable go pending,
// and stopping the worker makes ToolplaneNoWorker (and the worker's ToolplaneServiceDown) go pending, as
// Prometheus's HTTP API reports it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, repoRoot, type RegisteredExample, type Stack } from '@toolplane/cli';
import type { ManagementClient } from '@toolplane/client';
import { freePort, startRedisServer, type RedisHandle } from '@toolplane/embedded';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

let stack: Stack;
let redis: RedisHandle;
let upstream: TicketSystem;
let example: RegisteredExample;
let prometheus: ChildProcess | undefined;
let prometheusUrl = '';
let output = '';
const dataDir = mkdtempSync(join(tmpdir(), 'toolplane-prometheus-'));

/** The Prometheus server, or a failure (never a skip). */
function prometheusBinary(): string {
  const candidates = process.env.PROMETHEUS ? [process.env.PROMETHEUS] : ['prometheus', '/usr/bin/prometheus'];
  for (const c of candidates) if (spawnSync(c, ['--version']).status === 0) return c;
  throw new Error(
    `the Prometheus server is required (tried ${candidates.join(', ')}).` +
      (process.env.CI === 'true'
        ? ' CI=true: scripts/test.sh installs it (apt package prometheus).'
        : ' Run bash scripts/test.sh once (it installs Debian’s prometheus package) or set PROMETHEUS.'),
  );
}

/** Scrape every service each second, evaluate the rules each second; `service` as the PodMonitor sets it. */
function config(): string {
  const targets = Object.entries(stack.metricsUrls).map(([name, url]) => {
    const u = new URL(url);
    const service = name.startsWith('worker') ? 'worker' : name;
    return `      - targets: ['${u.host}']\n        labels: { service: ${service} }`;
  });
  return [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'rule_files:',
    `  - ${join(repoRoot, 'k8s/monitoring/rules.yaml')}`,
    'scrape_configs:',
    '  - job_name: toolplane',
    '    static_configs:',
    ...targets,
    '',
  ].join('\n');
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${prometheusUrl}${path}`, { signal: AbortSignal.timeout(scaled(5_000)) });
  const body = (await res.json()) as { status: string; data: T };
  if (body.status !== 'success') throw new Error(`${path}: ${JSON.stringify(body)}`);
  return body.data;
}

interface Alert {
  labels: { alertname: string; [label: string]: string };
  state: 'pending' | 'firing';
}
const alerts = async () => (await api<{ alerts: Alert[] }>('/api/v1/alerts')).alerts;

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'prometheus-canary', host: '127.0.0.1' });
  let api: ManagementClient;
  // A Redis of its own, to stop it.
  redis = await startRedisServer();
  ({ stack, api } = await startTestStack('prometheus-alerts', {
    redisUrl: redis.url,
    logLevel: 'warn',
    metricsPort: 0,
  }));
  example = await registerTicketExample(api, upstream.url, 'prometheus-canary', 'prometheus');
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  writeFileSync(join(dataDir, 'prometheus.yml'), config());
  prometheus = spawn(
    prometheusBinary(),
    [
      `--config.file=${join(dataDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dataDir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  prometheus.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor('Prometheus to be ready', async () => {
    if (prometheus!.exitCode !== null) throw new Error(`prometheus exited:\n${output}`);
    return (await fetch(`${prometheusUrl}/-/ready`)).ok;
  });
}, 120_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus!.once('exit', r));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await stack?.stop();
  await redis?.stop();
  await upstream?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the alert rules in Prometheus against a live stack', () => {
  it('scrape every service, evaluate every rule without error, and raise no alert while all is well', async () => {
    const callTool = () =>
      fetch(example.mcpUrl, {
        method: 'POST',
        headers: {
          'x-api-key': stack.bootstrapKey,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } },
        }),
      });
    expect((await callTool()).status).toBe(200);
    type Target = { labels: { service: string }; health: string };
    const targets = await waitFor('every target scraped and up', async () => {
      const t = (await api<{ activeTargets: Target[] }>('/api/v1/targets')).activeTargets;
      return t.length === 3 && t.every((x) => x.health === 'up') ? t : undefined;
    });
    expect(targets.map((t) => t.labels.service).sort()).toEqual(['control-plane', 'edge', 'worker']);
    // The worker's queue depth (read from Redis at each scrape) is there: no ToolplaneRedisUnreachable.
    await waitFor('the queue depth series', async () => {
      const r = await api<{ result: unknown[] }>(
        `/api/v1/query?query=${encodeURIComponent('toolplane:queue_depth:max{queue="tool-invocations"}')}`,
      );
      return r.result.length > 0;
    });
    type Rule = { name: string; health: string; lastError?: string; evaluationTime: number; lastEvaluation: string };
    const rules = await waitFor('every rule evaluated', async () => {
      const groups = (await api<{ groups: { rules: Rule[] }[] }>('/api/v1/rules')).groups;
      const all = groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => !r.lastEvaluation.startsWith('0001-')) ? all : undefined;
    });
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
    expect(rules.length).toBeGreaterThan(15);
    // A rule evaluated before the first scrape of a worker saw no `up` (pending, absorbed by its `for`); once every
    // target is scraped, nothing is active.
    await waitFor('no alert active', async () => ((await alerts()).length === 0 ? true : undefined));
  });

  it('stopping Redis makes ToolplaneRedisUnreachable go pending for the worker; it ends when Redis is back', async () => {
    const exited = new Promise((resolve) => redis.process.once('exit', resolve));
    redis.process.kill('SIGKILL');
    await exited;
    const unreachable = await waitFor('ToolplaneRedisUnreachable active', async () =>
      (await alerts()).find((a) => a.labels.alertname === 'ToolplaneRedisUnreachable'),
    );
    expect(unreachable).toMatchObject({ state: 'pending', labels: { severity: 'critical' } });
    expect(unreachable.labels.instance).toBe(new URL(stack.metricsUrls['worker-1']!).host);
    redis = await startRedisServer({ port: redis.port });
    await waitFor('no alert active', async () => ((await alerts()).length === 0 ? true : undefined));
  });

  it('stopping the worker makes ToolplaneNoWorker and ToolplaneServiceDown go pending', async () => {
    const worker = stack.processes.find((p) => p.name.startsWith('worker'))!;
    await stack.stopProcess(worker);
    // Pending: the condition holds; each fires after its `for` (2 and 5 minutes), as the promtool tests show.
    const active = await waitFor('ToolplaneNoWorker and ToolplaneServiceDown active', async () => {
      const now = await alerts();
      const names = now.map((a) => a.labels.alertname);
      return names.includes('ToolplaneNoWorker') && names.includes('ToolplaneServiceDown') ? now : undefined;
    });
    const noWorker = active.find((a) => a.labels.alertname === 'ToolplaneNoWorker')!;
    expect(noWorker).toMatchObject({ state: 'pending', labels: { severity: 'critical' } });
    const down = active.find((a) => a.labels.alertname === 'ToolplaneServiceDown')!;
    expect(down.labels).toMatchObject({ service: 'worker', severity: 'warning' });
    // Nothing else: the edge and the control plane are fine.
    expect([...new Set(active.map((a) => a.labels.alertname))].sort()).toEqual([
      'ToolplaneNoWorker',
      'ToolplaneServiceDown',
    ]);
  });
});
