import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { ServiceProcess, Stack } from '@toolplane/cli';
import { createManagementClient, unwrap, type components, type ManagementClient } from '@toolplane/client';
// Not a dependency of tests/: the package's source (readers are allowed in tests, never in services but the worker).
import { AwsSecretsReader, AwsSecretsWriter, LocalSealedSecretsReader } from '../../../packages/secrets/src/index.ts';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { recordingFetch } from '../../helpers/output-search.ts';

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

/** The status, content type and problem body of a typed-client call that is meant to fail. */
async function failure(call: Promise<{ error?: unknown; response: Response }>) {
  const { error, response } = await call;
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    body: error as components['schemas']['Problem'] | undefined,
  };
}

/** The path parameters of a workspace secret, or of a server's secret `API_KEY`. */
const secret = (name: string) => ({ params: { path: { name } } });
const apiKeyOf = (id: string) => ({ params: { path: { id, name: 'API_KEY' } } });
const serverPath = (id: string) => ({ params: { path: { id } } });

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
  let client: ManagementClient;
  const responses: string[] = [];
  let server: { id: string; url: string };

  beforeAll(async () => {
    // A 10-minute cache: a rotation seen at once proves the invalidation message, not expiry.
    ({ stack } = await startTestStack('secrets-api', { serviceEnv: { worker: { SECRETS_CACHE_TTL_MS: '600000' } } }));
    client = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey, recordingFetch(responses));
    server = (await unwrap(client.POST('/mcp_manager', { body: { name: 'secretive', mode: 'NORMAL' } }))) as {
      id: string;
      url: string;
    };
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('creates, reads metadata of, rotates, lists and deletes workspace secrets; values never come back', async () => {
    const created = await client.POST('/secrets', { body: { name: 'SHARED_TOKEN', value: valueA } });
    expect(created.response.status).toBe(201);
    expect(created.data).toMatchObject({
      name: 'SHARED_TOKEN',
      scope: 'workspace',
      version: expect.any(String),
      versions: [{ stages: ['current'] }],
    });
    expect(Date.parse(created.data!.updated_at)).not.toBeNaN();

    const again = await failure(client.POST('/secrets', { body: { name: 'SHARED_TOKEN', value: valueB } }));
    expect(again).toMatchObject({
      status: 409,
      type: expect.stringContaining('application/problem+json'),
      body: { code: 'resource.conflict' },
    });

    const rotated = await client.PUT('/secrets/{name}', { ...secret('SHARED_TOKEN'), body: { value: valueB } });
    expect(rotated.response.status).toBe(200);
    expect(rotated.data!.version).not.toBe(created.data!.version);
    expect(rotated.data!.versions).toEqual([
      { id: rotated.data!.version, stages: ['current'] },
      { id: created.data!.version, stages: ['previous'] },
    ]);

    expect(
      (await client.PUT('/secrets/{name}', { ...secret('OTHER-1'), body: { value: valueA } })).response.status,
    ).toBe(201);
    const list = await unwrap(client.GET('/secrets'));
    expect(list.data.map((s) => s.name)).toEqual(['OTHER-1', 'SHARED_TOKEN']);
    expect(await unwrap(client.GET('/secrets/{name}', secret('SHARED_TOKEN')))).toMatchObject({
      name: 'SHARED_TOKEN',
      version: rotated.data!.version,
    });

    expect((await client.DELETE('/secrets/{name}', secret('OTHER-1'))).response.status).toBe(204);
    expect((await client.DELETE('/secrets/{name}', secret('OTHER-1'))).response.status).toBe(404);
    expect((await client.GET('/secrets/{name}', secret('OTHER-1'))).response.status).toBe(404);
    expect((await unwrap(client.GET('/secrets'))).data.map((s) => s.name)).toEqual(['SHARED_TOKEN']);
  });

  it('answers invalid input with problem+json listing each field', async () => {
    const bad = await failure(client.POST('/secrets', { body: { name: 'bad name!', value: '' } }));
    expect(bad.status).toBe(422);
    expect(bad.type).toContain('application/problem+json');
    expect(bad.body).toMatchObject({ code: 'request.invalid' });
    expect(bad.body!.errors!.map((e) => e.path).sort()).toEqual(['/name', '/value']);
    const empty = await failure(client.POST('/secrets', { body: {} as never }));
    expect(empty.body!.errors!.map((e) => e.path).sort()).toEqual(['/name', '/value']);
    const badPath = await failure(client.PUT('/secrets/{name}', { ...secret('has.dot'), body: { value: 'x' } }));
    expect(badPath).toMatchObject({ status: 422, body: { errors: [{ path: '/name' }] } });
    const badValue = await failure(
      client.PUT('/secrets/{name}', { ...secret('OK_NAME'), body: { value: 42 as never } }),
    );
    expect(badValue).toMatchObject({ status: 422, body: { errors: [{ path: '/value' }] } });
    // No credential at all (null removes the client's x-api-key header).
    const noKey = await client.GET('/secrets', { headers: { 'x-api-key': null } });
    expect(noKey.response.status).toBe(401);
    expect(
      (await client.GET('/mcp_servers/{id}/secrets', serverPath('00000000-0000-4000-8000-000000000000'))).response
        .status,
    ).toBe(404);
  });

  it('keeps server secrets apart from workspace ones, and a rotation reaches the worker at once', async () => {
    expect(
      (await client.POST('/mcp_servers/{id}/deploy', { ...serverPath(server.id), body: { definition: flowDoc() } }))
        .response.status,
    ).toBe(201);
    const missing = await callTool(stack, server.url, 'whoami');
    expect(missing.isError).toBe(true);
    expect(JSON.stringify(missing.content)).toContain('secret_missing');

    const put = await client.PUT('/mcp_servers/{id}/secrets/{name}', {
      ...apiKeyOf(server.id),
      body: { value: valueA },
    });
    expect(put.response.status).toBe(201);
    expect(put.data).toMatchObject({ name: 'API_KEY', scope: 'mcp_server', mcp_server_id: server.id });
    expect(await untilWhich(stack, server.url, 'A')).toContain('A');
    // By name as well as by id.
    expect(
      (await unwrap(client.GET('/mcp_servers/{id}/secrets', serverPath('secretive')))).data.map((s) => s.name),
    ).toEqual(['API_KEY']);
    expect((await unwrap(client.GET('/secrets'))).data.map((s) => s.name)).toEqual(['SHARED_TOKEN']);

    expect(
      (await client.PUT('/mcp_servers/{id}/secrets/{name}', { ...apiKeyOf(server.id), body: { value: valueB } }))
        .response.status,
    ).toBe(200);
    expect((await untilWhich(stack, server.url, 'B')).at(-1)).toBe('B');

    expect((await client.DELETE('/mcp_servers/{id}/secrets/{name}', apiKeyOf(server.id))).response.status).toBe(204);
    await untilWhich(stack, server.url, 'error');
    expect(seen).toEqual(expect.arrayContaining([`Bearer ${valueA}`, `Bearer ${valueB}`]));
  });

  it("the control plane's runtime identity cannot read a secret it wrote", async () => {
    await unwrap(client.PUT('/mcp_servers/{id}/secrets/{name}', { ...apiKeyOf(server.id), body: { value: valueA } }));
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
    // The secrets' public half, and the private half of the record-arguments pair (ADR 0080: only the backtest
    // opens the arguments workers sealed to it), never the secrets' private half.
    expect(keyFiles.sort()).toEqual(
      [environ.RECORD_ARGUMENTS_PRIVATE_KEY_FILE, environ.SECRETS_PUBLIC_KEY_FILE].sort(),
    );
    expect(readFileSync(environ.SECRETS_PUBLIC_KEY_FILE!, 'utf8')).not.toContain('PRIVATE KEY');
    // Every key the control plane holds fails to open the store; the stored files hold no plaintext.
    const workspaceId = await workspaceOf(stack);
    const secretName = `ws/${workspaceId}/servers/${server.id}/secrets/API_KEY`;
    expect(
      () => new LocalSealedSecretsReader(secretsDir, readFileSync(environ.SECRETS_PUBLIC_KEY_FILE!, 'utf8')),
    ).toThrow();
    const argumentsKey = new LocalSealedSecretsReader(
      secretsDir,
      readFileSync(environ.RECORD_ARGUMENTS_PRIVATE_KEY_FILE!, 'utf8'),
    );
    await expect(argumentsKey.get(secretName)).rejects.toThrow();
    for (const f of readdirSync(secretsDir)) expect(readFileSync(join(secretsDir, f), 'utf8')).not.toContain(valueA);
    // Positive control: the worker's key (which only the worker process is given) opens it.
    const worker = stack.processes.find((p) => p.service === 'worker') as ServiceProcess;
    const workerEnv = readFileSync(`/proc/${worker.child.pid}/environ`, 'utf8');
    const privateKeyFile = /(?:^|\0)SECRETS_PRIVATE_KEY_FILE=([^\0]+)/.exec(workerEnv)![1]!;
    expect(keyFiles).not.toContain(privateKeyFile);
    const reader = new LocalSealedSecretsReader(secretsDir, readFileSync(privateKeyFile, 'utf8'));
    const names = (await unwrap(client.GET('/mcp_servers/{id}/secrets', serverPath(server.id)))).data;
    expect(names.map((n) => n.name)).toEqual(['API_KEY']);
    expect(await reader.get(secretName)).toBe(valueA);
  });

  it('never returned a value in any REST response', () => {
    expect(responses.length).toBeGreaterThan(20);
    const leaks = responses.filter((r) => r.includes(valueA) || r.includes(valueB));
    expect(leaks).toEqual([]);
  });
});

describe('a rotation nobody announced (AWS rotation outside Toolplane) reaches the worker within its cache TTL', () => {
  let stack: Stack;
  let client: ManagementClient;
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
    client = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('uses the new value once the cached one expired, without any invalidation message', async () => {
    const server = (await unwrap(client.POST('/mcp_manager', { body: { name: 'ttl-secretive', mode: 'NORMAL' } }))) as {
      id: string;
      url: string;
    };
    expect(
      (await client.POST('/mcp_servers/{id}/deploy', { ...serverPath(server.id), body: { definition: flowDoc() } }))
        .response.status,
    ).toBe(201);
    expect(
      (await client.PUT('/mcp_servers/{id}/secrets/{name}', { ...apiKeyOf(server.id), body: { value: valueA } }))
        .response.status,
    ).toBe(201);
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
  let client: ManagementClient;
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
    client = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey, recordingFetch(responses));
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('stores server secrets in Secrets Manager under the prefix, the worker resolves and follows rotations', async () => {
    const server = (await unwrap(client.POST('/mcp_manager', { body: { name: 'aws-secretive', mode: 'NORMAL' } }))) as {
      id: string;
      url: string;
    };
    expect(
      (await client.POST('/mcp_servers/{id}/deploy', { ...serverPath(server.id), body: { definition: flowDoc() } }))
        .response.status,
    ).toBe(201);
    const put = await client.PUT('/mcp_servers/{id}/secrets/{name}', {
      ...apiKeyOf(server.id),
      body: { value: valueA },
    });
    expect(put.response.status).toBe(201);
    expect(put.data).toMatchObject({ name: 'API_KEY', scope: 'mcp_server' });
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

    const rotated = await client.PUT('/mcp_servers/{id}/secrets/{name}', {
      ...apiKeyOf(server.id),
      body: { value: valueB },
    });
    expect(rotated.response.status).toBe(200);
    expect(rotated.data!.versions.slice(0, 2).map((v) => v.stages)).toEqual([['current'], ['previous']]);
    expect((await untilWhich(stack, server.url, 'B')).at(-1)).toBe('B');
    expect(await aws.get(awsName, 'previous')).toBe(valueA);

    const listed = await unwrap(client.GET('/mcp_servers/{id}/secrets', serverPath(server.id)));
    expect(listed.data).toEqual([expect.objectContaining({ name: 'API_KEY', version: rotated.data!.version })]);
    expect((await client.DELETE('/mcp_servers/{id}/secrets/{name}', apiKeyOf(server.id))).response.status).toBe(204);
    await untilWhich(stack, server.url, 'error');
    expect((await client.DELETE('/mcp_servers/{id}/secrets/{name}', apiKeyOf(server.id))).response.status).toBe(404);
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
    const connector = await unwrap(client.POST('/connectors', yamlBody(descriptor)));
    const instance = await unwrap(
      client.POST('/connector_instances', {
        body: { createServer: false, connector_id: connector.id, name: 'echo', credentials: { api_key: valueB } },
      }),
    );
    const workspaceId = await workspaceOf(stack);
    expect(await aws.get(`ws/${workspaceId}/connector-instances/${instance.id}/api_key`)).toBe(valueB);
    expect(responses.filter((r) => r.includes(valueA) || r.includes(valueB))).toEqual([]);
  });
});
