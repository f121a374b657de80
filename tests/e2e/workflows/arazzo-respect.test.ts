import { execFile } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { compileWorkflowDocument, runWorkflow, type WorkflowRunResult } from '../../../packages/workflow/src/index.ts';
import { tempDir } from '../../helpers/stack.ts';

/**
 * Side by side: the official Arazzo examples (and a probe document) run by Redocly Respect
 * (`redocly respect`, offline, servers overridden to a local mock) and by our engine against the
 * same mock. Request sequences and outcomes must agree, except for the deviations listed in
 * docs/workflows.md ("Known deviations from Redocly Respect"), which each case below expects
 * explicitly.
 */

const fixtures = fileURLToPath(new URL('../../fixtures/workflows/', import.meta.url));
const respectCli = fileURLToPath(new URL('../../node_modules/@redocly/cli/bin/cli.js', import.meta.url));

let dir: string;
let mock: Server;
let mockUrl: string;
let seen: string[] = [];
let counters = new Map<string, number>();

function route(method: string, path: string): { status: number; body?: unknown; headers?: Record<string, string> } {
  const products = [{ productCode: 'TV-1', purchaseAmount: { currency: 'EUR', amount: 499 } }];
  const count = (key: string) => {
    const n = (counters.get(key) ?? 0) + 1;
    counters.set(key, n);
    return n;
  };
  switch (`${method} ${path}`) {
    case 'POST /v1/animals':
      return { status: 201, body: { id: 1 } };
    case 'GET /v1/animals/random':
      return { status: 200, body: { name: 'okapi' } };
    case 'GET /api/v3/user/login':
      return {
        status: 200,
        body: 'session-42',
        headers: { 'x-rate-limit': '100', 'x-expires-after': '2030-01-01T00:00:00Z' },
      };
    case 'GET /api/v3/pet/findByStatus':
      return { status: 200, body: [{ id: 1, name: 'doggie', status: 'available' }] };
    case 'POST /as/par.oauth2':
      return { status: 200, body: { request_uri: 'urn:par:1', expires_in: 60 } };
    case 'GET /as/authorize.oauth2':
      return { status: 302, body: { code: 'c-1' }, headers: { location: 'https://tpp.example/cb?code=c-1' } };
    case 'POST /as/token.oauth2':
      return { status: 200, body: { access_token: 'at-1', token_type: 'Bearer', expires_in: 300 } };
    case 'GET /authorize':
      return { status: 200, body: { code: 'code-1', access_token: 'ignored' } };
    case 'POST /oauth/token': {
      const n = count('token');
      return { status: 200, body: { access_token: `at-${n}`, refresh_token: `rt-${n}`, expires_in: 3600 } };
    }
    case 'POST /bnpl/v1/products':
      return {
        status: 200,
        body: {
          existingCustomerNotEligible: true,
          eligibilityCheckRequired: true,
          products,
          totalAmount: { currency: 'EUR', amount: 499 },
        },
      };
    case 'GET /bnpl/v1/terms-and-conditions':
      return { status: 200, body: { termsAndConditions: 'be nice' } };
    case 'POST /bnpl/v1/customers':
      return { status: 201, body: { links: { self: 'https://bnpl.example/customers/c-1' } } };
    case 'POST /bnpl/v1/loan-transactions':
      return {
        status: 202,
        body: { redirectAuthToken: null, links: { self: 'https://bnpl.example/loan-transactions/l-1' } },
      };
    case 'GET /v1/pet/findByStatus':
    case 'GET /v1/pet/findByTags':
      return { status: 200, body: [{ id: 7, name: 'Rex' }] };
    case 'POST /v1/store/order':
      return { status: 200, body: { id: 99 } };
    case 'GET /probe/items':
      return { status: 200, body: { products: [], state: 'done' } };
    case 'GET /probe/flaky':
      return count('flaky') < 3 ? { status: 503, body: {} } : { status: 200, body: {} };
    case 'GET /probe/busy':
      return count('busy') < 3
        ? { status: 503, body: {}, headers: { 'retry-after': '120' } }
        : { status: 200, body: {} };
    case 'GET /probe/broken':
      return { status: 500, body: {} };
    case 'POST /probe/created':
      return { status: 201, body: {} };
    default:
      return { status: 404, body: { error: 'no route' } };
  }
}

function reset(): void {
  seen = [];
  counters = new Map();
}

interface Case {
  file: string;
  workflow: string;
  /** Source description name → path on the mock. */
  servers: Record<string, string>;
  inputs?: Record<string, unknown>;
}

interface RespectRun {
  exitCode: number;
  output: string;
  requests: string[];
  status?: string;
}

function respect(c: Case): Promise<RespectRun> {
  reset();
  const args = [respectCli, 'respect', c.file, '-w', c.workflow, '-J', `${c.workflow}.json`];
  for (const [name, path] of Object.entries(c.servers)) args.push('--server', `${name}=${mockUrl}${path}`);
  for (const [k, v] of Object.entries(c.inputs ?? {}))
    args.push('--input', `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1', REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const run: RespectRun = {
          exitCode: err ? ((err as { code?: number }).code ?? 1) : 0,
          output: `${stdout}${stderr}`,
          requests: [...seen],
        };
        try {
          const json = JSON.parse(readFileSync(join(dir, `${c.workflow}.json`), 'utf8')) as {
            files: Record<string, { executedWorkflows: { status: string }[] }>;
          };
          run.status = Object.values(json.files)[0]?.executedWorkflows[0]?.status;
        } catch {
          // Respect refused the document before running it: no JSON log.
        }
        resolve(run);
      },
    );
  });
}

async function ours(c: Case): Promise<{ run: WorkflowRunResult; requests: string[] }> {
  reset();
  const references = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f) && !/arazzo/.test(f))
    .map((f) => ({ location: `./${f}`, content: readFileSync(join(dir, f), 'utf8') }));
  const servers = Object.fromEntries(Object.entries(c.servers).map(([k, v]) => [k, `${mockUrl}${v}`]));
  const { ir } = compileWorkflowDocument(readFileSync(join(dir, c.file), 'utf8'), { references, servers });
  const run = await runWorkflow(ir, c.workflow, c.inputs ?? {}, {
    secret: async () => undefined,
    limits: { deadlineMs: 10_000 },
    http: async (req) => {
      const res = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        ...(req.body !== undefined ? { body: req.body } : {}),
        redirect: 'manual',
        signal: AbortSignal.timeout(req.timeoutMs),
      });
      const body = await res.text();
      return { status: res.status, headers: Object.fromEntries(res.headers), body, size: Buffer.byteLength(body) };
    },
  });
  return { run, requests: [...seen] };
}

beforeAll(async () => {
  dir = tempDir('respect');
  for (const sub of ['arazzo', 'support', 'side-by-side']) {
    for (const f of readdirSync(join(fixtures, sub)).filter((n) => /\.ya?ml$/.test(n)))
      copyFileSync(join(fixtures, sub, f), join(dir, f));
  }
  // Offline: sources the examples name by remote URL are read from the copies next to them.
  const rewrite = (file: string, from: string, to: string) =>
    writeFileSync(join(dir, file), readFileSync(join(dir, file), 'utf8').replace(from, to));
  rewrite(
    'LoginAndRetrievePets.arazzo.yaml',
    'https://raw.githubusercontent.com/swagger-api/swagger-petstore/master/src/main/resources/openapi.yaml',
    './petstore.openapi.yaml',
  );
  rewrite(
    'bnpl-arazzo.yaml',
    'https://raw.githubusercontent.com/OAI/Arazzo-Specification/main/examples/1.0.0/bnpl-openapi.yaml',
    './bnpl-openapi.yaml',
  );
  mock = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://mock');
      seen.push(`${req.method} ${url.pathname}${url.search}`);
      const r = route(req.method ?? 'GET', url.pathname);
      res
        .writeHead(r.status, { 'content-type': 'application/json', ...r.headers })
        .end(r.body === undefined ? '' : JSON.stringify(r.body));
    });
  });
  await new Promise<void>((resolve) => mock.listen(0, '127.0.0.1', resolve));
  mockUrl = `http://127.0.0.1:${(mock.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await new Promise<void>((resolve) => (mock ? mock.close(() => resolve()) : resolve()));
});

const oauth = { file: 'oauth.arazzo.yaml', servers: { 'apim-auth': '' } };
const probe = { file: 'probe.arazzo.yaml', servers: { probe: '/probe' } };

describe('Respect and Toolplane agree', () => {
  it.each<Case>([
    { file: 'ExtendedParametersExample.arazzo.yaml', workflow: 'animal-workflow', servers: { animals: '/v1' } },
    {
      ...oauth,
      workflow: 'refresh-token-flow',
      inputs: { my_client_id: 'cid', my_client_secret: 'cs', my_redirect_uri: 'https://app.example/cb' },
    },
    { ...oauth, workflow: 'client-credentials-flow', inputs: { client_id: 'cid', client_secret: 'cs' } },
    {
      ...oauth,
      workflow: 'authorization-code-flow',
      inputs: { client_id: 'cid', client_secret: 'cs', redirect_uri: 'https://app.example/cb' },
    },
    { ...probe, workflow: 'agreeOnFilters' },
    { ...probe, workflow: 'retryThenOk' },
    { ...probe, workflow: 'gotoAndEnd' },
  ])(
    '$file $workflow: same requests, both succeed',
    async (c) => {
      const r = await respect(c);
      const o = await ours(c);
      expect(o.run.error).toBeUndefined();
      expect(r.status).toBe('success');
      expect(r.exitCode).toBe(0);
      expect(o.requests).toEqual(r.requests);
      expect(r.requests.length).toBeGreaterThan(0);
    },
    90_000,
  );

  it('probe noCriteria500: same request, both fail the step (Respect: undocumented status; we: status ≥ 400)', async () => {
    const c = { ...probe, workflow: 'noCriteria500' };
    const r = await respect(c);
    const o = await ours(c);
    expect(r.requests).toEqual(['GET /probe/broken']);
    expect(o.requests).toEqual(r.requests);
    expect(r.exitCode).not.toBe(0);
    expect(o.run.error).toMatchObject({ code: 'step_failed', stepId: 'b' });
  }, 90_000);
});

describe('known deviations (docs/workflows.md)', () => {
  it('pet-coupons: Respect refuses the document (outputs-defined lint confuses two place-order steps); we run buy-available-pet to the end', async () => {
    const c: Case = {
      file: 'pet-coupons.arazzo.yaml',
      workflow: 'buy-available-pet',
      servers: { 'pet-coupons': '/v1' },
    };
    const r = await respect(c);
    expect(r.exitCode).not.toBe(0);
    expect(r.output).toContain('outputs-defined');
    expect(r.requests).toEqual([]);
    const o = await ours(c);
    expect(o.run).toMatchObject({ ok: true, outputs: { buy_pet_order_id: 99 } });
    expect(o.requests).toEqual([
      'GET /v1/pet/findByStatus?status=available&page=1&pageSize=10',
      'POST /v1/store/order',
    ]);
  }, 90_000);

  it('bnpl: Respect refuses the document (outputs the example never declares); we run until the path parameter that never resolves', async () => {
    const c: Case = {
      file: 'bnpl-arazzo.yaml',
      workflow: 'ApplyForLoanAtCheckout',
      servers: { BnplApi: '/bnpl/v1' },
      inputs: {
        customer: { firstName: 'Ada', lastName: 'Lovelace', dateOfBirth: '1815-12-10T00:00:00Z', postalCode: 'W1' },
        products: [{ productCode: 'TV-1', purchaseAmount: { currency: 'EUR', amount: 499 } }],
      },
    };
    const r = await respect(c);
    expect(r.exitCode).not.toBe(0);
    expect(r.output).toContain('outputs-defined');
    expect(r.requests).toEqual([]);
    const o = await ours(c);
    expect(o.requests).toEqual([
      'POST /bnpl/v1/products',
      'GET /bnpl/v1/terms-and-conditions',
      'POST /bnpl/v1/customers',
      'POST /bnpl/v1/loan-transactions',
    ]);
    expect(o.run.error).toMatchObject({ code: 'request_invalid', stepId: 'retrieveFinalizedPaymentPlan' });
  }, 90_000);

  it('FAPI-PAR: Respect fails PARStep (operationId PAR vs Par); we match ignoring case and run the three steps', async () => {
    const c: Case = {
      file: 'FAPI-PAR.arazzo.yaml',
      workflow: 'OIDC-PAR-AuthzCode',
      servers: { 'auth-api': '' },
      inputs: {
        client_id: 'tpp',
        client_assertion: { iss: 'tpp' },
        redirect_uri: 'https://tpp.example/cb',
        code_verifier: 'v',
        PARrequestBody: { response_type: 'code', client_id: 'tpp' },
        TokenRequestBody: { grant_type: 'authorization_code', code: '-', redirect_uri: 'x', code_verifier: 'v' },
      },
    };
    const r = await respect(c);
    expect(r.exitCode).not.toBe(0);
    expect(r.output).toContain('Unknown operationId PAR');
    expect(r.requests).toEqual([]);
    const o = await ours(c);
    expect(o.run.ok).toBe(true);
    expect(o.requests.map((x) => x.split('?')[0])).toEqual([
      'POST /as/par.oauth2',
      'GET /as/authorize.oauth2',
      'POST /as/token.oauth2',
    ]);
  }, 90_000);

  it('LoginAndRetrievePets: Respect fails getPetStep (operationPath to a path item has no method); we use its only operation', async () => {
    const c: Case = {
      file: 'LoginAndRetrievePets.arazzo.yaml',
      workflow: 'loginUserRetrievePet',
      servers: { petStoreDescription: '/api/v3' },
      inputs: { username: 'ann', password: 'pw' },
    };
    const r = await respect(c);
    expect(r.exitCode).not.toBe(0);
    expect(r.output).toContain('"method" is required');
    expect(r.requests).toEqual(['GET /api/v3/user/login?username=ann&password=pw']);
    const o = await ours(c);
    expect(o.run).toMatchObject({ ok: true, outputs: { available: [{ id: 1, name: 'doggie', status: 'available' }] } });
    expect(o.requests).toEqual([...r.requests, 'GET /api/v3/pet/findByStatus?status=available']);
  }, 90_000);

  it.each([
    ['countEmpty', 'count(@.products) with products: [] — Respect true (node count), we false', 'success', false],
    ['absentNotNull', '@.token != null without token — Respect true, we false', 'success', false],
    ['caseInsensitive', "'done' == 'DONE' — Respect false (case-sensitive), we true (the spec's MUST)", 'error', true],
    [
      'undocumentedStatus',
      'a 201 the OpenAPI document does not describe — Respect fails the step, we do not check',
      'error',
      true,
    ],
  ] as const)(
    'probe %s: %s',
    async (workflow, _why, respectStatus, oursOk) => {
      const c = { ...probe, workflow };
      const r = await respect(c);
      const o = await ours(c);
      expect(o.requests).toEqual(r.requests);
      expect(r.status).toBe(respectStatus);
      expect(o.run.ok).toBe(oursOk);
    },
    90_000,
  );

  it('probe retryAfterHeader: Respect ignores Retry-After: 120 and retries; we honour it, which passes the deadline at once', async () => {
    const c = { ...probe, workflow: 'retryAfterHeader' };
    const r = await respect(c);
    expect(r.status).toBe('success');
    expect(r.requests).toEqual(['GET /probe/busy', 'GET /probe/busy', 'GET /probe/busy']);
    const o = await ours(c);
    expect(o.requests).toEqual(['GET /probe/busy']);
    expect(o.run.error).toMatchObject({ code: 'deadline_exceeded', stepId: 'poll' });
    expect(o.run.error!.message).toContain('120000 ms');
  }, 90_000);
});
