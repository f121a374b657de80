import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { ApiError, createManagementClient, unwrap, type components } from '@toolplane/client';
import { ticketSystemDescriptorYaml } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';

/**
 * Seed 001's `capabilities` and `sla` blocks on the real stack (issue #28, part 7): validated when a
 * connector is pushed (every problem listed with its path, together with the other blocks'), and shown in
 * the API's answers (`POST`, `GET /connectors`, `GET /connectors/{id}`), for descriptors and for the OpenAPI
 * envelope; null where a connector declares none. The contract proxy checks every answer against
 * docs/openapi.json.
 */

type ConnectorSource = components['schemas']['ConnectorSource'];

let stack: Stack;
let client: ReturnType<typeof createManagementClient>;

beforeAll(async () => {
  ({ stack } = await startTestStack('connector-capabilities'));
  client = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const descriptor = (slug: string, extra: Record<string, unknown>) => ({
  metadata: { name: slug, slug, version: '1.0.0' },
  operations: [{ operation_id: 'ping', endpoint: 'https://api.example.com/ping', method: 'GET' }],
  ...extra,
});

const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'Pinger', version: '2.0.0' },
  servers: [{ url: 'https://api.example.com' }],
  paths: { '/ping': { get: { operationId: 'ping', responses: { '200': { description: 'pong' } } } } },
};

/** Pushes a connector (YAML text or an object), giving the answer or the ApiError. */
async function push(body: string | Record<string, unknown>) {
  return unwrap(
    client.POST('/connectors', {
      body: body as unknown as ConnectorSource,
      ...(typeof body === 'string'
        ? { bodySerializer: (b: unknown) => b as string, headers: { 'content-type': 'application/yaml' } }
        : {}),
    }),
  ).catch((err: unknown) => err as ApiError);
}

describe('capabilities and sla', () => {
  it("shows seed 001's blocks as written in every answer about the connector", async () => {
    const created = await push(ticketSystemDescriptorYaml);
    if (created instanceof ApiError) throw created;
    const expected = {
      capabilities: { sync_modes: ['full_refresh'], supports_schema_discovery: false },
      sla: { availability_percentage: 99.5, latency_ms_p95: 1500 },
    };
    expect(created).toMatchObject({ slug: 'ticket-system', ...expected });
    const listed = await unwrap(client.GET('/connectors'));
    expect(listed.data.find((c) => c.id === created.id)).toMatchObject(expected);
    const one = await unwrap(client.GET('/connectors/{id}', { params: { path: { id: created.id } } }));
    expect(one).toMatchObject(expected);
  });

  it('keeps keys it does not know, and answers null where a connector declares none', async () => {
    const extra = await push(
      descriptor('extra-keys', {
        capabilities: { sync_modes: ['incremental', 'full_refresh'], webhooks: true },
        sla: { availability_percentage: 100, support_hours: '24/7' },
      }),
    );
    expect(extra).toMatchObject({
      capabilities: { sync_modes: ['incremental', 'full_refresh'], webhooks: true },
      sla: { availability_percentage: 100, support_hours: '24/7' },
    });
    expect(await push(descriptor('no-blocks', {}))).toMatchObject({ capabilities: null, sla: null });
    expect(await push(openApiDocument)).toMatchObject({ kind: 'openapi', capabilities: null, sla: null });
  });

  it('lists every problem of both blocks with its path, together with the other blocks’ problems; nothing is stored', async () => {
    const bad = await push(
      descriptor('bad-blocks', {
        metadata: { name: 'bad', slug: 'Bad Slug', version: '1.0.0' },
        capabilities: { sync_modes: ['full_refresh', 'realtime', 'full_refresh'], supports_schema_discovery: 'no' },
        sla: { availability_percentage: 101, latency_ms_p95: 0 },
      }),
    );
    expect(bad).toBeInstanceOf(ApiError);
    const err = bad as ApiError;
    expect(err.status).toBe(422);
    expect(err.issues.map((i) => i.path).sort()).toEqual([
      '/capabilities/supports_schema_discovery',
      '/capabilities/sync_modes/1',
      '/capabilities/sync_modes/2',
      '/metadata/slug',
      '/sla/availability_percentage',
      '/sla/latency_ms_p95',
    ]);
    expect(err.issues.find((i) => i.path === '/sla/availability_percentage')?.message).toBe(
      'must be between 0 and 100',
    );
    const negative = (await push(descriptor('negative', { sla: { availability_percentage: -0.5 } }))) as ApiError;
    expect(negative.issues).toEqual([{ path: '/sla/availability_percentage', message: 'must be between 0 and 100' }]);
    const slugs = (await unwrap(client.GET('/connectors'))).data.map((c) => c.slug);
    expect(slugs).not.toContain('negative');
  });

  it('validates and shows them on the OpenAPI envelope too', async () => {
    const envelope = (extra: Record<string, unknown>) => ({
      kind: 'openapi',
      slug: 'pinger-envelope',
      document: openApiDocument,
      ...extra,
    });
    const bad = (await push(envelope({ sla: { availability_percentage: 250 }, capabilities: 'all' }))) as ApiError;
    expect(bad.status).toBe(422);
    expect(bad.issues.map((i) => i.path).sort()).toEqual(['/capabilities', '/sla/availability_percentage']);
    const created = await push(
      envelope({ capabilities: { sync_modes: ['incremental'] }, sla: { latency_ms_p95: 250 } }),
    );
    expect(created).toMatchObject({
      kind: 'openapi',
      capabilities: { sync_modes: ['incremental'] },
      sla: { latency_ms_p95: 250 },
    });
  });
});
