import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type {
  CatalogTool,
  ExecutionRecord,
  HttpOperationPlan,
  ToolInvokeJob,
  WorkflowPlan,
} from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { ExecutionRecordSink } from '@toolplane/queue';
import { compileWorkflowDocument, runWorkflow, type WorkflowDocumentIR } from '@toolplane/workflow';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { Authorizer } from './auth.ts';
import type { PlanCache } from './catalog-cache.ts';
import { DebugSessions } from './debug-sessions.ts';
import type { ExecutionLeases } from './execution-lease.ts';
import { configureOutbound, parseOutboundAllow } from './outbound-guard.ts';
import { buildRequest, toToolResult, type UpstreamRequest } from './http-operation.ts';
import { createToolInvocationProcessor } from './processor.ts';
import { RunningInvocations } from './invocation.ts';
import type { RateLimits } from './rate-limits.ts';
import { redactSecrets, redactText, sentSecretForms } from './redact.ts';
import { SecretResolver } from './secret-resolver.ts';

/**
 * Property: whatever a credential's value (printable ASCII and beyond) and wherever the worker puts it
 * (query, header, header template, cookie, Basic and Bearer authorization; a workflow's `$secrets` in a
 * URL path and query, a query parameter, a header template, a JSON body and a form body), an upstream
 * that echoes the request back (as JSON, as plain text, as an HTTP error) gets none of it into the
 * tool result, the execution record (step URLs, tree, debug captures) or the logs, in any form: as is,
 * percent-encoded (any percent-encoding, any hex case, `+` for space), JSON-escaped (once or twice),
 * base64 / base64url, or as the Basic credentials sent. The real processor and workflow runner on a
 * real local upstream; fast-check prints the seed and the shrunk counterexample of a failure.
 */

const limits = { timeoutMs: 5_000, maxResponseBytes: 1_000_000 };
let upstream: Server;
let base: string;
/** What reached the upstream (the bytes the worker sent), per call. */
let wire: string[] = [];

interface WireRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** What the echoing upstream answers: the request as received, raw and decoded, as JSON or as plain text. */
function echoOf(req: WireRequest, style: string): { status: number; contentType: string; body: string } {
  const decoded = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  const parsed = new URL(req.url, 'http://x');
  const authorization = req.headers.authorization ?? '';
  const echo = {
    ...req,
    path: decoded(parsed.pathname),
    query: Object.fromEntries(parsed.searchParams),
    form: Object.fromEntries(new URLSearchParams(req.body)),
    basic: /^basic /i.test(authorization) ? Buffer.from(authorization.slice(6), 'base64').toString('utf8') : undefined,
  };
  if (style === 'raw')
    return {
      status: 200,
      contentType: 'text/plain',
      body: `${req.method} ${req.url}\n${Object.entries(req.headers).join('\n')}\n\n${req.body}\n${JSON.stringify(echo)}`,
    };
  return { status: style === 'err' ? 400 : 200, contentType: 'application/json', body: JSON.stringify(echo) };
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // Header values as the bytes arrived (latin1), as Node hands them over.
      const headers = Object.fromEntries(
        req.rawHeaders.flatMap((v, i, a) => (i % 2 === 0 ? [[v.toLowerCase(), a[i + 1]!]] : [])),
      );
      const received = { method: req.method!, url: req.url!, headers, body: Buffer.concat(chunks).toString('utf8') };
      wire.push(JSON.stringify(received));
      const echo = echoOf(received, new URL(received.url, 'http://x').pathname.split('/')[1]!);
      res.writeHead(echo.status, { 'content-type': echo.contentType }).end(echo.body);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  configureOutbound({ policy: parseOutboundAllow('127.0.0.1'), maxRedirects: 0, connectTimeoutMs: 2_000 });
});

afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

// ---- The oracle: independent of redact.ts, it searches decoded views of every output string. ----

/** Every run of `%XX` escapes decoded as UTF-8 (invalid sequences become U+FFFD); anything else kept. */
const pctDecode = (s: string) =>
  s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
const jsonShort: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
/** JSON string escapes decoded (`\"`, `\\`, `\/`, `\n`…, `\uXXXX`), leniently. */
const jsonUnescape = (s: string) =>
  s.replace(/\\(u[0-9A-Fa-f]{4}|["\\/bfnrt])/g, (_, e: string) =>
    e[0] === 'u' && e.length === 5 ? String.fromCharCode(parseInt(e.slice(1), 16)) : (jsonShort[e] ?? e),
  );

/** The decoded views of a text an output holds, each with the form it undoes. */
function views(text: string): [string, string][] {
  // What the redactor wrote is not part of the search (a secret like "dact" is in "[redacted]").
  const t = text.replace(/\[redacted\]/gi, '\u0000');
  const out: [string, string][] = [];
  for (const [jsonName, j] of [
    ['', t],
    ['json-escaped ', jsonUnescape(t)],
    ['json-escaped twice ', jsonUnescape(jsonUnescape(t))],
  ] as const) {
    out.push([`${jsonName}as is`, j]);
    if (j.includes('%')) out.push([`${jsonName}percent-encoded`, pctDecode(j)]);
    if (j.includes('+')) out.push([`${jsonName}form-encoded`, pctDecode(j.replace(/\+/g, ' '))]);
  }
  return out;
}

/** Where `secret` shows in a text (its `views`), in which form (undefined: nowhere). */
function findSecret(textViews: [string, string][], secret: string, basicTokens: string[]): string | undefined {
  for (const [form, view] of textViews) if (view.includes(secret)) return form;
  const raw = textViews[0]![1];
  const b64 = Buffer.from(secret).toString('base64').replace(/=+$/, '');
  const b64url = Buffer.from(secret).toString('base64url');
  if (raw.includes(b64)) return 'base64';
  if (raw.includes(b64url)) return 'base64url';
  for (const token of basicTokens) if (raw.includes(token.replace(/=+$/, ''))) return 'basic credentials';
  return undefined;
}

/** Every string in a value (keys too). */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      strings(v, out);
    }
  return out;
}

// ---- Generators ----

const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const special = fc.constantFrom(...`!'()*~ %+&=#?/\\"<>{}[]|^\`$;:,@.-_`.split(''));
const latin1 = fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c));
const beyond = fc.oneof(
  fc.constantFrom('€', '漢', '字', '🙂', '\u2028', '\u200b', 'ü'),
  fc.integer({ min: 0x100, max: 0xd7ff }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
);
const secretOf = (unit: fc.Arbitrary<string>) => fc.string({ unit, minLength: 4, maxLength: 24 });
/** Header values travel as latin1 (Node refuses anything else): full printable ASCII and latin1. */
const headerSecret = secretOf(fc.oneof({ arbitrary: printable, weight: 4 }, special, latin1));
/** URLs and bodies carry any text. */
const anySecret = secretOf(fc.oneof({ arbitrary: printable, weight: 4 }, special, latin1, beyond));

const secretsArb = fc.record({
  q: anySecret,
  h: headerSecret,
  c: anySecret,
  t: headerSecret,
  user: headerSecret.filter((u) => !u.includes(':')),
  pass: headerSecret,
  bearer: headerSecret,
  WF_PATH: anySecret,
  WF_URL: anySecret,
  WF_Q: anySecret,
  WF_H: headerSecret,
  WF_B: anySecret,
  WF_F: anySecret,
});
type Secrets = typeof secretsArb extends fc.Arbitrary<infer T> ? T : never;

// ---- The processor, with fakes of our own interfaces only ----

function opPlan(style: string, auth: 'basic' | 'bearer'): HttpOperationPlan {
  return {
    kind: 'http',
    method: 'POST',
    url: `${base}/${style}/op`,
    params: [{ arg: 'note', name: 'note', in: 'body' }],
    secrets: { q: 'q', h: 'h', c: 'c', t: 't', user: 'user', pass: 'pass', bearer: 'bearer' },
    authQuery: { k: '{q}' },
    authCookies: { ck: '{c}' },
    authHeaders: { 'X-Api-Key': '{h}', 'X-Tmpl': 'Token {t} end', Authorization: '{__authorization}' },
    auth:
      auth === 'basic' ? { kind: 'basic', username: 'user', password: 'pass' } : { kind: 'bearer', token: 'bearer' },
  };
}

function flowPlan(style: string): WorkflowPlan {
  const { ir } = compileWorkflowDocument({
    flower: '0.1',
    id: 'doc',
    flows: [
      {
        id: 'flow',
        steps: [
          {
            id: 'a',
            request: {
              method: 'POST',
              url: `${base}/${style}/p/{$secrets.WF_PATH}/x?raw={$secrets.WF_URL}`,
              query: { k: '$secrets.WF_Q' },
              headers: { 'X-Tmpl': 'Token $secrets.WF_H end' },
              body: { k: '$secrets.WF_B', note: 'json' },
            },
            outputs: { echo: '$response.body' },
          },
          {
            id: 'b',
            request: {
              method: 'POST',
              url: `${base}/${style}/form`,
              headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
              body: { f: '$secrets.WF_F', note: 'form' },
            },
            outputs: { echo: '$response.body' },
          },
        ],
        outputs: { a: '$steps.a.outputs.echo', b: '$steps.b.outputs.echo' },
      },
    ],
  });
  const names = ['WF_PATH', 'WF_URL', 'WF_Q', 'WF_H', 'WF_B', 'WF_F'];
  return {
    kind: 'workflow',
    deploymentId: 'dep',
    workflowId: 'flow',
    ir: ir as unknown as Record<string, unknown>,
    secretNames: Object.fromEntries(names.map((n) => [n, n])),
  };
}

function harness() {
  let secrets: Record<string, string> = {};
  let entry: CatalogTool | undefined;
  const records: ExecutionRecord[] = [];
  const logs: unknown[] = [];
  const log = (...args: unknown[]) => void logs.push(args);
  // The real capture code; the session is always open (no Redis read happens in `exchange`).
  const sessions = new DebugSessions(undefined as unknown as Redis, 'p', { maxBodyBytes: 4096 });
  const debug = {
    active: async () => ({ sessionId: 'dbg', endsAt: Number.MAX_SAFE_INTEGER }),
    exchange: sessions.exchange.bind(sessions),
  };
  const process = createToolInvocationProcessor({
    plans: { get: async () => entry, guardrails: async () => [] } as unknown as PlanCache,
    secrets: new SecretResolver({ get: async (name: string) => secrets[name] }, 0),
    rateLimits: { take: async () => ({ ok: true }) } as unknown as RateLimits,
    authorizer: new Authorizer(limits),
    limits,
    log: { debug: log, info: log, warn: log, error: log } as unknown as Logger,
    records: { add: (r: ExecutionRecord) => void records.push(r) } as unknown as ExecutionRecordSink,
    debug: debug as unknown as DebugSessions,
    running: new RunningInvocations(),
    leases: { graceMs: 60_000, sends: async () => 0, mark: async () => undefined } as unknown as ExecutionLeases,
  });
  let n = 0;
  return {
    records,
    logs,
    async call(plan: CatalogTool['plan'], values: Record<string, string>) {
      secrets = values;
      entry = { tool: { name: 't', description: 'd', inputSchema: { type: 'object' } }, plan };
      const job: ToolInvokeJob = {
        v: 2,
        invocationId: `inv-${++n}`,
        serverId: 's',
        catalogVersion: 1,
        tool: 't',
        arguments: { note: 'hello' },
        principal: { workspaceId: 'w' },
        deadlineAt: Date.now() + 10_000,
        replyTo: 'edge',
      };
      return process(job);
    },
  };
}

const styles = ['json', 'raw', 'err'] as const;
const styleArb = fc.constantFrom(...styles);
const authArb = fc.constantFrom('basic' as const, 'bearer' as const);

/**
 * Searches every text of `places` for every secret of a case (fails with the secret, the place, the
 * form and the text); returns how many secrets `sent` holds (what went on the wire).
 */
function check(s: Secrets, auth: 'basic' | 'bearer', places: Record<string, string[]>, sent: string[]): number {
  const basic = auth === 'basic' ? [Buffer.from(`${s.user}:${s.pass}`).toString('base64')] : [];
  const searched = Object.entries(places).flatMap(([where, texts]) =>
    [...new Set(texts)].map((text) => ({ where, text, views: views(text) })),
  );
  const sentViews = sent.map(views);
  let onWire = 0;
  for (const [name, secret] of Object.entries(s)) {
    if (sentViews.some((w) => findSecret(w, secret, []) !== undefined)) onWire++;
    for (const { where, text, views: v } of searched) {
      const form = findSecret(v, secret, basic);
      if (form !== undefined)
        throw new Error(`${name} (${JSON.stringify(secret)}) is in the ${where}, ${form}: ${text}`);
    }
  }
  return onWire;
}

describe('redaction, as a property of the worker', () => {
  it("the request builders' bytes, echoed back in every way, are redacted in every form (500 cases)", async () => {
    // The worker's own encoders (buildRequest, the Authorizer, the workflow engine's request building);
    // the upstream's echo computed, not served: fast enough for many cases.
    const authorizer = new Authorizer(limits);
    const irs = Object.fromEntries(styles.map((st) => [st, flowPlan(st).ir as unknown as WorkflowDocumentIR]));
    let onWire = 0;
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(secretsArb, styleArb, authArb, async (s: Secrets, style, auth) => {
        cases++;
        const plan = opPlan(style, auth);
        const credentials: Record<string, string | undefined> = { ...s };
        credentials.__authorization = await authorizer.authorization(plan.auth!, credentials);
        const requests: UpstreamRequest[] = [buildRequest(plan, { note: 'hello' }, credentials)];
        const run = await runWorkflow(
          irs[style]!,
          'flow',
          {},
          {
            http: async (req) => {
              requests.push({
                method: req.method,
                url: req.url,
                headers: req.headers,
                ...(req.body ? { body: req.body } : {}),
              });
              return { status: 200, headers: { 'content-type': 'application/json' }, body: '{}', size: 2 };
            },
            secret: async (name) => s[name as keyof Secrets],
            limits: { deadlineMs: 10_000, requestTimeoutMs: 5_000, maxResponseBytes: 1_000_000 },
          },
        );
        expect(run.ok).toBe(true);
        const values = Object.values(credentials);
        const outputs: string[] = [];
        const sent: string[] = [];
        for (const r of requests) {
          // As the processor and the workflow runner do: the values, and their forms in the request's bytes.
          const redactWith = [...values, ...sentSecretForms(r, values)];
          const u = new URL(r.url);
          const received = { method: r.method, url: u.pathname + u.search, headers: r.headers, body: r.body ?? '' };
          sent.push(JSON.stringify(received));
          const echo = echoOf(received, style);
          const body = Buffer.from(echo.body);
          const result = toToolResult(
            { kind: 'response', status: echo.status, contentType: echo.contentType, body },
            limits,
          );
          outputs.push(...strings(redactSecrets(result, redactWith)), redactText(r.url, redactWith));
        }
        onWire += check(s, auth, { 'tool result': outputs }, sent);
      }),
      { numRuns: 500 },
    );
    expect(cases).toBe(500);
    expect(onWire).toBeGreaterThan(cases * 10);
  }, 300_000);

  it('the processor and the workflow runner on a real upstream: results, records, debug captures, logs (50 cases)', async () => {
    const flows = Object.fromEntries(styles.map((st) => [st, flowPlan(st)]));
    let onWire = 0;
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(secretsArb, styleArb, authArb, async (s: Secrets, style, auth) => {
        cases++;
        const h = harness();
        wire = [];
        const op = await h.call(opPlan(style, auth), { ...s });
        const flow = await h.call(flows[style]!, { ...s });
        const places = {
          'tool result': strings([op, flow]),
          'execution record': strings(h.records),
          log: strings(h.logs),
        };
        onWire += check(s, auth, places, wire);
      }),
      { numRuns: 50 },
    );
    expect(cases).toBe(50);
    // The property is about something: the secrets did go out (13 per case; Node trims header values).
    expect(onWire).toBeGreaterThan(cases * 8);
  }, 300_000);
});
