import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { type components, type ManagementClient, unwrap } from '@toolplane/client';
import { AuditChainVerifier } from '@toolplane/client/audit-chain';
import { freePort } from '@toolplane/embedded';
import { close, hecServer, listen, switchableReceiver, syslogReceiver } from '../../helpers/audit-receivers.ts';
import { sourceCli } from '../../helpers/cli.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

// The trail pushed to SIEMs (ADR 0065): syslog over TCP (JSON) and TLS (CEF), Splunk HEC and a signed webhook receive
// every event of a scripted session, in order, verifiable with the chain; HEC stopped and restarted loses nothing;
// an untrusted certificate is a clear status; an event a receiver refuses for good becomes a dead letter.

type AuditEvent = components['schemas']['AuditEvent'];

const dir = mkdtempSync(join(tmpdir(), 'audit-export-'));
const HEC_TOKEN = 'hec-token-for-the-test';
const HMAC_KEY = 'hmac-key-for-the-test';

let stack: Stack;
let api: ManagementClient;

/** A self-signed certificate for 127.0.0.1 (openssl), and a second one nobody trusts. */
function certificate(name: string): { key: string; cert: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  execFileSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

/** The event a CEF line carries in `msg` (the last extension), unescaped. */
function eventOfCef(line: string): AuditEvent {
  expect(line).toMatch(/^CEF:0\|Toolplane\|Toolplane\|1\|/);
  const msg = line.slice(line.indexOf(' msg=') + 5);
  return JSON.parse(msg.replace(/\\([\\=n])/g, (_, c: string) => (c === 'n' ? '\n' : c))) as AuditEvent;
}

/** HEC (`/services/collector/event`) and a webhook (`/hook`): HEC lines appended to a file as received. */
function httpReceiver(hecFile: string) {
  const hook: AuditEvent[] = [];
  const server = hecServer(hecFile, HEC_TOKEN, (req, body, res) => {
    const signature = `sha256=${createHmac('sha256', HMAC_KEY).update(body).digest('hex')}`;
    if (req.headers['x-toolplane-signature'] !== signature) return void res.writeHead(401).end();
    // The receiver refuses for good any batch holding the poisoned event (HEC answers 400 so).
    if (body.includes('poison-pill')) return void res.writeHead(400).end();
    hook.push(...(JSON.parse(body) as AuditEvent[]));
    res.writeHead(204).end();
  });
  return { server, hook };
}

/** The workspace's whole trail, oldest first. */
async function trail(): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await unwrap(
      api.GET('/audit_events', { params: { query: { order: 'asc', limit: 500, ...(cursor ? { cursor } : {}) } } }),
    );
    events.push(...(page.data as AuditEvent[]));
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return events;
}

/** Received events without exact repeats (at-least-once), checked to be the chain in order from its first event. */
function inOrder(received: AuditEvent[]): AuditEvent[] {
  const seen = new Set<string>();
  const unique = received.filter((e) => !seen.has(e.hash) && seen.add(e.hash));
  const verifier = new AuditChainVerifier();
  for (const e of unique) expect(verifier.next(e as Parameters<AuditChainVerifier['next']>[0])).toBeUndefined();
  expect(unique.map((e) => e.seq)).toEqual(unique.map((_, i) => i + 1));
  return unique;
}

const hecFile = join(dir, 'hec.jsonl');
const tcp = syslogReceiver();
const trusted = certificate('trusted');
const secure = syslogReceiver(trusted);
const untrusted = syslogReceiver(certificate('untrusted'));
let http = httpReceiver(hecFile);
let httpPort: number;
let hanging: ReturnType<typeof switchableReceiver>;
const exporters: Record<string, string> = {};

/** A management call of the scripted session: it must succeed whatever the receivers do. */
async function change(name: string): Promise<void> {
  const created = await api.POST('/access_policies', {
    body: { name, principals: [{ type: 'oauth_subject', value: name }], servers: ['*'], tools: ['*'] },
  });
  expect(created.response.status).toBe(201);
  const id = created.data!.id;
  const path = { id };
  expect((await api.PATCH('/access_policies/{id}', { params: { path }, body: { description: 'x' } })).response.ok).toBe(
    true,
  );
}

async function createExporter(name: string, target: Record<string, unknown>): Promise<void> {
  const body = { name, target } as components['schemas']['CreateAuditExporterBody'];
  exporters[name] = (await unwrap(api.POST('/audit_exporters', { body }))).id;
}

function status(name: string) {
  return unwrap(api.GET('/audit_exporters/{id}/status', { params: { path: { id: exporters[name]! } } }));
}

beforeAll(async () => {
  writeFileSync(hecFile, '');
  httpPort = await freePort();
  hanging = switchableReceiver(await freePort(), (socket) => socket.destroy());
  await hanging.set('hanging');
  const ports = { tcp: await freePort(), secure: await freePort(), untrusted: await freePort() };
  await Promise.all([
    listen(tcp.server, ports.tcp),
    listen(secure.server, ports.secure),
    listen(untrusted.server, ports.untrusted),
    listen(http.server, httpPort),
  ]);
  ({ stack, api } = await startTestStack('audit-export', {
    serviceEnv: {
      'control-plane': {
        AUDIT_EXPORT_POLL_MS: '100',
        AUDIT_EXPORT_BATCH: '4',
        AUDIT_EXPORT_RETRY_MAX_MS: '400',
        AUDIT_EXPORT_MAX_ATTEMPTS: '2',
      },
    },
  }));
  const host = '127.0.0.1';
  await createExporter('tcp', { type: 'syslog', host, port: ports.tcp });
  await createExporter('tls', {
    type: 'syslog',
    host,
    port: ports.secure,
    tls: true,
    caPem: trusted.cert,
    format: 'cef',
  });
  await createExporter('untrusted', { type: 'syslog', host, port: ports.untrusted, tls: true });
  await createExporter('hec', { type: 'splunk_hec', url: `http://${host}:${httpPort}`, token: HEC_TOKEN });
  await createExporter('hook', { type: 'webhook', url: `http://${host}:${httpPort}/hook`, secret: HMAC_KEY });
}, 120_000);

afterAll(async () => {
  await hanging.set('down');
  await stack?.stop();
  await Promise.all([tcp.server, secure.server, untrusted.server, http.server].map(close));
});

const hecEvents = () =>
  readFileSync(hecFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { event: AuditEvent }).event);

describe('audit exporters', () => {
  it('deliver every event of a session, in order, with its chain, to syslog (TCP, TLS) and HEC', async () => {
    for (const name of ['session-a', 'session-b', 'poison-pill', 'session-c']) await change(name);
    const all = await trail();
    const head = all.at(-1)!.seq;
    const upTo = (events: AuditEvent[]) => events.some((e) => e.seq === head) && events;
    const got = {
      tcp: inOrder(await waitFor('syslog over TCP', () => upTo(tcp.bodies.map((b) => JSON.parse(b) as AuditEvent)))),
      tls: inOrder(await waitFor('syslog over TLS', () => upTo(secure.bodies.map(eventOfCef)))),
      hec: inOrder(await waitFor('HEC', () => upTo(hecEvents()))),
    };
    for (const events of Object.values(got)) expect(events.slice(0, head)).toEqual(all.slice(0, head));
    const { stdout } = await sourceCli(stack)('audit', 'verify', '--from-file', hecFile);
    expect(stdout).toContain('the chain is intact');
  });

  it('keeps delivering to the other receivers while one accepts connections and never answers', async () => {
    await createExporter('hanging', { type: 'splunk_hec', url: `http://127.0.0.1:${hanging.port}`, token: HEC_TOKEN });
    await waitFor('the hanging receiver holding a batch', () => hanging.held > 0);
    await change('while-hanging');
    const head = (await trail()).at(-1)!.seq;
    await waitFor('HEC', () => hecEvents().some((e) => e.seq === head));
    // Its batch still waits for the task's timeout: the other exporters did not wait for it.
    expect(await status('hanging')).toMatchObject({ lastError: null, cursors: [{ seq: 0 }] });
    await hanging.set('down');
    expect(
      (await api.DELETE('/audit_exporters/{id}', { params: { path: { id: exporters.hanging! } } })).response.ok,
    ).toBe(true);
    delete exporters.hanging;
  });

  it('shows an untrusted certificate as the exporter’s status, and sends it nothing', async () => {
    const s = await waitFor('the untrusted exporter failing', async () => {
      const st = await status('untrusted');
      return st.state === 'failing' && st;
    });
    expect(s.lastError).toMatch(/^certificate verify failed: /);
    expect(s.cursors[0]).toMatchObject({ seq: 0 });
    expect(untrusted.bodies).toEqual([]);
  });

  it('dead-letters the event a receiver refuses for good, and delivers the others', async () => {
    const poisoned = (await trail()).find((e) => JSON.stringify(e).includes('poison-pill'))!;
    const s = await waitFor('the dead letter', async () => {
      const st = await status('hook');
      return st.deadLetters.length > 0 && st;
    });
    expect(s.deadLetters).toEqual([expect.objectContaining({ seq: poisoned.seq, eventId: poisoned.id, attempts: 2 })]);
    await waitFor('the events after it', () => http.hook.some((e) => e.seq > poisoned.seq));
    expect(http.hook.map((e) => e.seq)).not.toContain(poisoned.seq);
  });

  it('loses nothing while HEC is down: the API answers, and HEC gets the rest in order once back', async () => {
    const hook = http.hook;
    await close(http.server);
    const before = (await trail()).at(-1)!.seq;
    await waitFor('the HEC exporter failing', async () => {
      await change(`while-down-${Date.now()}`); // the management API answers while a receiver is down
      return (await status('hec')).state === 'failing';
    });
    for (const name of ['down-1', 'down-2', 'down-3']) await change(name);
    const hec = await status('hec');
    expect(hec.lastError).toMatch(/could not be reached/);
    expect(hec.cursors[0]!.lag).toBeGreaterThan(0);
    expect(hec.cursors[0]!.seq).toBeLessThanOrEqual(before);
    http = httpReceiver(hecFile);
    http.hook.push(...hook);
    await listen(http.server, httpPort);
    const all = await trail();
    const head = all.at(-1)!.seq;
    const received = inOrder(
      await waitFor('HEC after its restart', () => hecEvents().some((e) => e.seq === head) && hecEvents()),
    );
    expect(received.slice(0, head)).toEqual(all.slice(0, head));
    await waitFor('the HEC exporter delivering again', async () => (await status('hec')).state === 'ok');
    const { stdout } = await sourceCli(stack)('audit', 'verify', '--from-file', hecFile, '--json');
    expect(JSON.parse(stdout)).toMatchObject({ intact: true, chains: 1 });
  });

  it('answers the exporters without their sealed values, and forgets one deleted', async () => {
    const list = await unwrap(api.GET('/audit_exporters'));
    expect(list.data.map((e) => e.name)).toEqual(['tcp', 'tls', 'untrusted', 'hec', 'hook']);
    expect(JSON.stringify(list)).not.toContain(HEC_TOKEN);
    const id = exporters.untrusted!;
    const one = await unwrap(api.GET('/audit_exporters/{id}', { params: { path: { id } } }));
    expect(one).toMatchObject({ name: 'untrusted', hasSecret: false, target: { type: 'syslog', format: 'json' } });
    const patched = await unwrap(
      api.PATCH('/audit_exporters/{id}', { params: { path: { id } }, body: { enabled: false } }),
    );
    expect(patched.enabled).toBe(false);
    expect((await status('untrusted')).state).toBe('disabled');
    const missing = await api.PATCH('/audit_exporters/{id}', {
      params: { path: { id } },
      body: { target: { type: 'splunk_hec', url: 'https://splunk.example.com' } },
    });
    expect(missing.response.status).toBe(422);
    // A key that may not read the trail may not send it anywhere either.
    const managementOnly = await unwrap(
      api.POST('/api_keys', { body: { name: 'management-only', scopes: ['management'] } }),
    );
    const refused = await fetch(`${stack.controlPlaneUrl}/api/v1/audit_exporters`, {
      method: 'POST',
      headers: { 'x-api-key': managementOnly.key, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'exfiltrate', target: { type: 'syslog', host: '127.0.0.1', port: 9 } }),
    });
    expect(refused.status).toBe(403);
    expect((await api.DELETE('/audit_exporters/{id}', { params: { path: { id } } })).response.status).toBe(204);
    expect((await api.GET('/audit_exporters/{id}', { params: { path: { id } } })).response.status).toBe(404);
  });
});
