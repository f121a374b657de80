import { describe, expect, it } from '@jest/globals';
import { parseConnectorDescriptor } from '@toolplane/contracts';
import { ticketSystemDescriptorYaml } from '@toolplane/examples';
import { descriptorToOpenApi } from './descriptor-openapi.ts';
import { compileDescriptorTools } from './descriptor-tools.ts';
import { importOpenApi } from './import-openapi.ts';
import { loadDocument } from './load-document.ts';
import { compileOpenApiTools } from './openapi-tools.ts';

// Re-delivery rules of operations (docs/api.md, "Idempotency"): `x-idempotent` and `x-idempotency-key`
// in OpenAPI documents, `idempotent` and `idempotency_key_header` in descriptors, compiled into plans.

const body = { content: { 'application/json': { schema: { type: 'object', properties: { a: { type: 'string' } } } } } };
const ok = { 200: { description: 'ok' } };

async function plans(doc: Record<string, unknown>) {
  const imported = await importOpenApi(JSON.stringify(doc));
  const tools = compileOpenApiTools(imported.document, { binding: { secretNames: {} } });
  return Object.fromEntries(tools.map((t) => [t.tool.name, t]));
}

describe('OpenAPI idempotency extensions', () => {
  it('compiles x-idempotent and x-idempotency-key (operation, or document-wide) into the plan', async () => {
    const tools = await plans({
      openapi: '3.1.0',
      info: { title: 'T', version: '1' },
      servers: [{ url: 'https://api.example.com' }],
      'x-idempotency-key': 'Idempotency-Key',
      paths: {
        '/charges': {
          post: { operationId: 'charge', requestBody: body, responses: ok },
          put: {
            operationId: 'replaceCharge',
            'x-idempotent': false,
            'x-idempotency-key': false,
            requestBody: body,
            responses: ok,
          },
        },
        '/searches': {
          post: {
            operationId: 'search',
            'x-idempotent': true,
            'x-idempotency-key': 'X-Request-Id',
            requestBody: body,
            responses: ok,
          },
        },
        '/odd': {
          post: { operationId: 'odd', 'x-idempotent': 'yes', 'x-idempotency-key': 'bad header', responses: ok },
        },
      },
    });
    const plan = (name: string) => tools[name]!.plan as { idempotent?: boolean; idempotencyKeyHeader?: string };
    expect(plan('charge')).toMatchObject({ idempotencyKeyHeader: 'Idempotency-Key' });
    expect(plan('charge').idempotent).toBeUndefined();
    expect(plan('replaceCharge').idempotent).toBe(false);
    expect(plan('replaceCharge').idempotencyKeyHeader).toBeUndefined();
    expect(tools.replaceCharge!.tool.annotations?.idempotentHint).toBe(false);
    expect(plan('search')).toMatchObject({ idempotent: true, idempotencyKeyHeader: 'X-Request-Id' });
    expect(tools.search!.tool.annotations?.idempotentHint).toBe(true);
    expect(plan('odd').idempotent).toBeUndefined();
    expect(plan('odd').idempotencyKeyHeader).toBeUndefined();
  });
});

describe('descriptor idempotency fields', () => {
  it('carries idempotent and idempotency_key_header through the generated OpenAPI document into the plan', () => {
    const raw = loadDocument(ticketSystemDescriptorYaml) as { operations: Record<string, unknown>[] };
    const create = raw.operations.find((o) => o.method === 'POST')!;
    create.idempotency_key_header = 'Idempotency-Key';
    const get = raw.operations.find((o) => o.method === 'GET')!;
    get.idempotent = false;
    const parsed = parseConnectorDescriptor(raw);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const doc = descriptorToOpenApi(parsed.value) as { paths: Record<string, Record<string, Record<string, unknown>>> };
    const ops = Object.values(doc.paths).flatMap((p) => Object.values(p));
    expect(ops.find((o) => o.operationId === create.operation_id)!['x-idempotency-key']).toBe('Idempotency-Key');
    expect(ops.find((o) => o.operationId === get.operation_id)!['x-idempotent']).toBe(false);
    const tools = compileDescriptorTools(parsed.value, { secretNames: {} });
    const plans = tools.map((t) => t.plan as { method: string; idempotent?: boolean; idempotencyKeyHeader?: string });
    expect(plans.find((p) => p.method === 'POST')!.idempotencyKeyHeader).toBe('Idempotency-Key');
    expect(plans.filter((p) => p.idempotent === false).length).toBeGreaterThan(0);
  });

  it('refuses an idempotency_key_header that is not a header name', () => {
    const raw = loadDocument(ticketSystemDescriptorYaml) as { operations: Record<string, unknown>[] };
    raw.operations[0]!.idempotency_key_header = 'not a header';
    const parsed = parseConnectorDescriptor(raw);
    expect(parsed.ok).toBe(false);
  });
});
