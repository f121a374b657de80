import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { ServiceProcess, Stack } from '@toolplane/cli';
// Not a dependency of tests/: the package's source (readers are allowed in tests, never in services but the worker).
import { AwsSecretsReader, AwsSecretsWriter, LocalSealedSecretsReader } from '../../packages/secrets/src/index.ts';
import { startTestStack, waitFor } from '../helpers.ts';

/**
 * The secrets REST API on the real stack: per workspace and per MCP server, metadata only in
 * responses, problem+json validation, rotation reaching the worker through the invalidation message
 * (not the cache TTL: it is 10 minutes here), the control plane's identity unable to read what it
 * wrote (embedded backend), and the same API on the AWS backend (moto_server). Separately, with a
 * 1-second cache: a rotation made directly in Secrets Manager (no message) is used once it expires.
 */

const valueA = `sk-a-${randomBytes(12).toString('hex')}`;
const valueB = `sk-b-${randomBytes(12).toString('hex')}`;

let upstream: Server;
let upstreamUrl: string;
/** Authorization headers the upstream saw. */
const seen: string[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const auth = String(req.headers.authorization ?? '');
    seen.push(auth);
    const which = auth === `Bearer ${valueA}` ? 'A' : auth === `Bearer ${valueB}` ? 'B' : 'other';
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ which }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

const flowDoc = () =>
  JSON.stringify({
    flower: '0.1',
    id: 'whoami',
    flows: [
      {
        id: 'whoami',
        steps: [
          {
            id: 'me',
            request: { method: 'GET', url: `${upstreamUrl}/me`, headers: { Authorization: 'Bearer $secrets.API_KEY' } },
            outputs: { which: '$response.body.which' },
          },
        ],
        outputs: { which: '$steps.me.outputs.which' },
      },
    ],
  });

/** A REST client that keeps every response text (searched for values at the end). */
function restClient(stack: Stack, responses: string[]) {
  return async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = { 'x-api-key': stack.bootstrapKey },
  ) => {
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1${path}`, {
      method,
      headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    responses.push(text);
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      body: text ? (JSON.parse(text) as Record<string, any>) : undefined,
    };
  };
}

async function callTool(
  stack: Stack,
  url: string,
  name: string,
): Promise<{ isError?: boolean; structuredContent?: unknown; content: unknown }> {
  const client = new Client({ name: 'secrets-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
  );
  try {
    return (await client.callTool({ name, arguments: {} })) as {
      isError?: boolean;
      structuredContent?: unknown;
      content: unknown;
    };
  } finally {
    await client.close();
  }
}

/** Calls until the tool answers `want` (the invalidation message and the job travel on different connections). */
async function untilWhich(stack: Stack, url: string, want: string): Promise<string[]> {
  const answers: string[] = [];
  return waitFor(`the tool to answer ${want}`, async () => {
    const r = await callTool(stack, url, 'whoami');
    const which = r.isError
      ? `error: ${JSON.stringify(r.content)}`
      : String((r.structuredContent as { which?: string }).which);
    answers.push(which);
    if (which === want || (want === 'error' && r.isError)) return answers;
    throw new Error(`answers so far: ${answers.join(', ')}`);
  });
}

describe('secrets REST API (embedded sealed store)', () => {
  let stack: Stack;
  let rest: ReturnType<typeof restClient>;
  const responses: string[] = [];
  let server: { id: string; url: string };

  beforeAll(async () => {
    // A 10-minute cache: a rotation seen at once proves the invalidation message, not expiry.
    ({ stack } = await startTestStack('secrets-api', { serviceEnv: { worker: { SECRETS_CACHE_TTL_MS: '600000' } } }));
    rest = restClient(stack, responses);
    server = (await rest('POST', '/mcp_manager', { name: 'secretive', mode: 'NORMAL' })).body as {
      id: string;
      url: string;
    };
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('creates, reads metadata of, rotates, lists and deletes workspace secrets; values never come back', async () => {
    const created = await rest('POST', '/secrets', { name: 'SHARED_TOKEN', value: valueA });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'SHARED_TOKEN',
      scope: 'workspace',
      version: expect.any(String),
      versions: [{ stages: ['current'] }],
    });
    expect(Date.parse(created.body!.updated_at)).not.toBeNaN();

    const again = await rest('POST', '/secrets', { name: 'SHARED_TOKEN', value: valueB });
    expect(again).toMatchObject({
      status: 409,
      type: expect.stringContaining('application/problem+json'),
      body: { code: 'resource.conflict' },
    });

    const rotated = await rest('PUT', '/secrets/SHARED_TOKEN', { value: valueB });
    expect(rotated.status).toBe(200);
    expect(rotated.body!.version).not.toBe(created.body!.version);
    expect(rotated.body!.versions).toEqual([
      { id: rotated.body!.version, stages: ['current'] },
      { id: created.body!.version, stages: ['previous'] },
    ]);

    expect((await rest('PUT', '/secrets/OTHER-1', { value: valueA })).status).toBe(201);
    const list = await rest('GET', '/secrets');
    expect(list.body!.data.map((s: { name: string }) => s.name)).toEqual(['OTHER-1', 'SHARED_TOKEN']);
    expect((await rest('GET', '/secrets/SHARED_TOKEN')).body).toMatchObject({
      name: 'SHARED_TOKEN',
      version: rotated.body!.version,
    });

    expect((await rest('DELETE', '/secrets/OTHER-1')).status).toBe(204);
    expect((await rest('DELETE', '/secrets/OTHER-1')).status).toBe(404);
    expect((await rest('GET', '/secrets/OTHER-1')).status).toBe(404);
    expect((await rest('GET', '/secrets')).body!.data.map((s: { name: string }) => s.name)).toEqual(['SHARED_TOKEN']);
  });

  it('answers invalid input with problem+json listing each field', async () => {
    const bad = await rest('POST', '/secrets', { name: 'bad name!', value: '' });
    expect(bad.status).toBe(422);
    expect(bad.type).toContain('application/problem+json');
    expect(bad.body).toMatchObject({ code: 'request.invalid' });
    expect(bad.body!.errors.map((e: { path: string }) => e.path).sort()).toEqual(['/name', '/value']);
    const empty = await rest('POST', '/secrets', {});
    expect(empty.body!.errors.map((e: { path: string }) => e.path).sort()).toEqual(['/name', '/value']);
    const badPath = await rest('PUT', '/secrets/has.dot', { value: 'x' });
    expect(badPath).toMatchObject({ status: 422, body: { errors: [{ path: '/name' }] } });
    const badValue = await rest('PUT', '/secrets/OK_NAME', { value: 42 });
    expect(badValue).toMatchObject({ status: 422, body: { errors: [{ path: '/value' }] } });
    const noKey = await rest('GET', '/secrets', undefined, {});
    expect(noKey.status).toBe(401);
    expect((await rest('GET', '/mcp_servers/00000000-0000-4000-8000-000000000000/secrets')).status).toBe(404);
  });

  it('keeps server secrets apart from workspace ones, and a rotation reaches the worker at once', async () => {
    expect((await rest('POST', `/mcp_servers/${server.id}/deploy`, { definition: flowDoc() })).status).toBe(201);
    const missing = await callTool(stack, server.url, 'whoami');
    expect(missing.isError).toBe(true);
    expect(JSON.stringify(missing.content)).toContain('secret_missing');

    const put = await rest('PUT', `/mcp_servers/${server.id}/secrets/API_KEY`, { value: valueA });
    expect(put).toMatchObject({
      status: 201,
      body: { name: 'API_KEY', scope: 'mcp_server', mcp_server_id: server.id },
    });
    expect(await untilWhich(stack, server.url, 'A')).toContain('A');
    // By name as well as by id.
    expect(
      (await rest('GET', `/mcp_servers/secretive/secrets`)).body!.data.map((s: { name: string }) => s.name),
    ).toEqual(['API_KEY']);
    expect((await rest('GET', '/secrets')).body!.data.map((s: { name: string }) => s.name)).toEqual(['SHARED_TOKEN']);

    expect((await rest('PUT', `/mcp_servers/${server.id}/secrets/API_KEY`, { value: valueB })).status).toBe(200);
    expect((await untilWhich(stack, server.url, 'B')).at(-1)).toBe('B');

    expect((await rest('DELETE', `/mcp_servers/${server.id}/secrets/API_KEY`)).status).toBe(204);
    await untilWhich(stack, server.url, 'error');
    expect(seen).toEqual(expect.arrayContaining([`Bearer ${valueA}`, `Bearer ${valueB}`]));
  });

  it("the control plane's runtime identity cannot read a secret it wrote", async () => {
    await rest('PUT', `/mcp_servers/${server.id}/secrets/API_KEY`, { value: valueA });
    const cp = stack.processes.find((p) => p.service === 'control-plane') as ServiceProcess;
    // What the running control-plane process was given (its real environment, from the kernel).
    const environ = Object.fromEntries(
      readFileSync(`/proc/${cp.child.pid}/environ`, 'utf8')
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    expect(environ.SECRETS_PRIVATE_KEY_FILE).toBeUndefined();
    const secretsDir = environ.SECRETS_DIR!;
    const keyFiles = Object.entries(environ)
      .filter(([k]) => /KEY_FILE$/.test(k))
      .map(([, v]) => v);
    expect(keyFiles).toEqual([environ.SECRETS_PUBLIC_KEY_FILE]);
    // Every key the control plane holds fails to open the store; the stored files hold no plaintext.
    for (const file of keyFiles) {
      const pem = readFileSync(file, 'utf8');
      expect(pem).not.toContain('PRIVATE KEY');
      expect(() => new LocalSealedSecretsReader(secretsDir, pem)).toThrow();
    }
    for (const f of readdirSync(secretsDir)) expect(readFileSync(join(secretsDir, f), 'utf8')).not.toContain(valueA);
    // Positive control: the worker's key (which only the worker process is given) opens it.
    const worker = stack.processes.find((p) => p.service === 'worker') as ServiceProcess;
    const workerEnv = readFileSync(`/proc/${worker.child.pid}/environ`, 'utf8');
    const privateKeyFile = /(?:^|\0)SECRETS_PRIVATE_KEY_FILE=([^\0]+)/.exec(workerEnv)![1]!;
    expect(keyFiles).not.toContain(privateKeyFile);
    const reader = new LocalSealedSecretsReader(secretsDir, readFileSync(privateKeyFile, 'utf8'));
    const names = (await rest('GET', `/mcp_servers/${server.id}/secrets`)).body!.data as { name: string }[];
    expect(names.map((n) => n.name)).toEqual(['API_KEY']);
    const workspaceId = await workspaceOf(stack);
    expect(await reader.get(`ws/${workspaceId}/servers/${server.id}/secrets/API_KEY`)).toBe(valueA);
  });

  it('never returned a value in any REST response', () => {
    expect(responses.length).toBeGreaterThan(20);
    const leaks = responses.filter((r) => r.includes(valueA) || r.includes(valueB));
    expect(leaks).toEqual([]);
  });
});

describe('a rotation nobody announced (AWS rotation outside Toolplane) reaches the worker within its cache TTL', () => {
  let stack: Stack;
  let rest: ReturnType<typeof restClient>;
  const prefix = `tp-e2e-ttl-${randomBytes(4).toString('hex')}/`;
  const aws = () => ({
    region: 'us-east-1',
    endpoint: process.env.TEST_MOTO_URL!,
    namePrefix: prefix,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });

  beforeAll(async () => {
    if (!process.env.TEST_MOTO_URL)
      throw new Error(
        process.env.TEST_MOTO_ERROR ?? 'TEST_MOTO_URL is not set (tests/setup/global-setup.js starts moto_server)',
      );
    ({ stack } = await startTestStack('secrets-ttl', {
      env: {
        SECRETS_BACKEND: 'aws',
        AWS_REGION: 'us-east-1',
        SECRETS_AWS_ENDPOINT: process.env.TEST_MOTO_URL,
        SECRETS_NAME_PREFIX: prefix,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      serviceEnv: { worker: { SECRETS_CACHE_TTL_MS: '1000' } },
    }));
    rest = restClient(stack, []);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('uses the new value once the cached one expired, without any invalidation message', async () => {
    const server = (await rest('POST', '/mcp_manager', { name: 'ttl-secretive', mode: 'NORMAL' })).body as {
      id: string;
      url: string;
    };
    expect((await rest('POST', `/mcp_servers/${server.id}/deploy`, { definition: flowDoc() })).status).toBe(201);
    expect((await rest('PUT', `/mcp_servers/${server.id}/secrets/API_KEY`, { value: valueA })).status).toBe(201);
    expect(await untilWhich(stack, server.url, 'A')).toContain('A');
    // Rotated directly in Secrets Manager: the control plane publishes nothing, only expiry can help.
    const awsName = `ws/${await workspaceOf(stack)}/servers/${server.id}/secrets/API_KEY`;
    await new AwsSecretsWriter(aws()).put(awsName, valueB);
    expect(await new AwsSecretsReader(aws()).get(awsName)).toBe(valueB);
    const answers = await untilWhich(stack, server.url, 'B');
    expect(answers.at(-1)).toBe('B');
    expect(answers.filter((a) => a !== 'A' && a !== 'B')).toEqual([]);
  });
});

/** The bootstrap workspace's id (from the database the control plane owns). */
async function workspaceOf(stack: Stack): Promise<string> {
  const pg = (await import('pg')).default;
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  try {
    return (await db.query<{ id: string }>('SELECT id FROM workspaces LIMIT 1')).rows[0]!.id;
  } finally {
    await db.end();
  }
}

describe('secrets REST API on the AWS Secrets Manager backend (moto_server)', () => {
  let stack: Stack;
  let rest: ReturnType<typeof restClient>;
  const responses: string[] = [];
  const prefix = `tp-e2e-${randomBytes(4).toString('hex')}/`;
  /** Reads Secrets Manager directly (the worker's kind of identity), under the deployment prefix. */
  let aws: AwsSecretsReader;

  beforeAll(async () => {
    const endpoint = process.env.TEST_MOTO_URL;
    if (!endpoint)
      throw new Error(
        process.env.TEST_MOTO_ERROR ?? 'TEST_MOTO_URL is not set (tests/setup/global-setup.js starts moto_server)',
      );
    aws = new AwsSecretsReader({
      region: 'us-east-1',
      endpoint,
      namePrefix: prefix,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    ({ stack } = await startTestStack('secrets-aws', {
      env: {
        SECRETS_BACKEND: 'aws',
        AWS_REGION: 'us-east-1',
        SECRETS_AWS_ENDPOINT: endpoint,
        SECRETS_NAME_PREFIX: prefix,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      serviceEnv: { worker: { SECRETS_CACHE_TTL_MS: '600000' } },
    }));
    rest = restClient(stack, responses);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('stores server secrets in Secrets Manager under the prefix, the worker resolves and follows rotations', async () => {
    const server = (await rest('POST', '/mcp_manager', { name: 'aws-secretive', mode: 'NORMAL' })).body as {
      id: string;
      url: string;
    };
    expect((await rest('POST', `/mcp_servers/${server.id}/deploy`, { definition: flowDoc() })).status).toBe(201);
    const put = await rest('PUT', `/mcp_servers/${server.id}/secrets/API_KEY`, { value: valueA });
    expect(put).toMatchObject({ status: 201, body: { name: 'API_KEY', scope: 'mcp_server' } });
    const workspaceId = await workspaceOf(stack);
    const awsName = `ws/${workspaceId}/servers/${server.id}/secrets/API_KEY`;
    expect(await aws.get(awsName)).toBe(valueA);
    expect(
      await new AwsSecretsReader({
        region: 'us-east-1',
        endpoint: process.env.TEST_MOTO_URL!,
        namePrefix: 'other/',
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      }).get(awsName),
    ).toBeUndefined();
    // Nothing went to the sealed store the stack also configures.
    const cp = stack.processes.find((p) => p.service === 'control-plane') as ServiceProcess;
    const sealedDir = /(?:^|\0)SECRETS_DIR=([^\0]+)/.exec(readFileSync(`/proc/${cp.child.pid}/environ`, 'utf8'))![1]!;
    expect(existsSync(sealedDir) ? readdirSync(sealedDir) : []).toEqual([]);
    expect(await untilWhich(stack, server.url, 'A')).toContain('A');

    const rotated = await rest('PUT', `/mcp_servers/${server.id}/secrets/API_KEY`, { value: valueB });
    expect(rotated.status).toBe(200);
    expect(rotated.body!.versions.slice(0, 2).map((v: { stages: string[] }) => v.stages)).toEqual([
      ['current'],
      ['previous'],
    ]);
    expect((await untilWhich(stack, server.url, 'B')).at(-1)).toBe('B');
    expect(await aws.get(awsName, 'previous')).toBe(valueA);

    const listed = await rest('GET', `/mcp_servers/${server.id}/secrets`);
    expect(listed.body!.data).toEqual([expect.objectContaining({ name: 'API_KEY', version: rotated.body!.version })]);
    expect((await rest('DELETE', `/mcp_servers/${server.id}/secrets/API_KEY`)).status).toBe(204);
    await untilWhich(stack, server.url, 'error');
    expect((await rest('DELETE', `/mcp_servers/${server.id}/secrets/API_KEY`)).status).toBe(404);
  });

  it('stores connector instance credentials there too, and returns no value anywhere', async () => {
    const descriptor = `
metadata: { name: Echo, slug: echo, version: "1.0.0" }
authentication:
  - type: api_key
    fields: [{ key: api_key, field_type: secret, required: true, secret: true }]
operations:
  - operation_id: echo
    endpoint: "${upstreamUrl}/echo"
    method: GET
    auth_type_ref: api_key
    auth_headers: { Authorization: "Bearer {api_key}" }
mcp_config:
  enabled: true
  server_name: echo
  server_description: Echo
  route_mappings:
    - { operation_id: echo, mcp_tool_name: echo, mcp_tool_description: "Echo" }
`;
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/connectors`, {
      method: 'POST',
      headers: { 'x-api-key': stack.bootstrapKey, 'content-type': 'application/yaml' },
      body: descriptor,
    });
    const connector = (await res.json()) as { id: string };
    const instance = (
      await rest('POST', '/connector_instances', {
        createServer: false,
        connector_id: connector.id,
        name: 'echo',
        credentials: { api_key: valueB },
      })
    ).body as { id: string };
    const workspaceId = await workspaceOf(stack);
    expect(await aws.get(`ws/${workspaceId}/connector-instances/${instance.id}/api_key`)).toBe(valueB);
    expect(responses.filter((r) => r.includes(valueA) || r.includes(valueB))).toEqual([]);
  });
});
