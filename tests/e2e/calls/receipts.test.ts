import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { RECEIPT_META_KEY, saltedDigest, verifyReceipt, type Receipt, type ReceiptKeySet } from '@toolplane/receipts';
import { recordingFetch, watchOutputs, type OutputWatch } from '../../helpers/output-search.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Receipts of calls on the direct MCP path (ADR 0111), on a real stack with the official SDK client in both protocol
 * eras: each call's result carries its receipt signed by the worker; it verifies against the key set the control
 * plane publishes at its well-known URL, with nothing else; its salts disclose exactly the arguments sent and the
 * result received; the same receipt is stored with the call's record; a receipt changed in any member fails; and the
 * signing key shows up in no output of the stack (logs, spans, Redis, PostgreSQL, answers).
 */

const UPSTREAM_KEY = 'upstream-secret-key-receipts';
let upstream: TicketSystem;
let watch: OutputWatch;
let stack: Stack;
let api: ManagementClient;
let example: RegisteredExample;
let keys: ReceiptKeySet;
const outputs: string[] = [];

/** The workers' receipt signing key in every form it could leak in: its PEM body and its JWK `d`. */
function signingKeyForms(): string[] {
  if (!stack) return [];
  const pem = readFileSync(join(stack.dataDir, 'keys', 'receipt-signing.key.pem'), 'utf8');
  const body = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  return [body, createPrivateKey(pem).export({ format: 'jwk' }).d!];
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: UPSTREAM_KEY });
  watch = await watchOutputs(signingKeyForms);
  let directControlPlaneUrl: string;
  ({ stack, directControlPlaneUrl } = await startTestStack('receipts', {
    redisUrl: watch.redisUrl,
    logLevel: 'debug',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: watch.otlpUrl, OTEL_BSP_SCHEDULE_DELAY: '100' },
  }));
  api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey, recordingFetch(outputs));
  example = await registerTicketExample(api, upstream.url, UPSTREAM_KEY);
  // The published key set: public, outside the management API (no key needed).
  const res = await fetch(`${directControlPlaneUrl}/.well-known/toolplane-receipt-keys`);
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('public, max-age=300');
  keys = (await res.json()) as ReceiptKeySet;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await watch?.close();
  await upstream?.close();
});

async function connect(era: 'legacy' | 'auto'): Promise<Client> {
  const client = new Client({ name: 'receipts', version: '1.0.0' }, { versionNegotiation: { mode: era } });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(example.mcpUrl), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  return client;
}

type Issued = { receipt: Receipt; salts: { input_salt: string; output_salt?: string } };
const issuedReceipts: Issued[] = [];

describe('receipts of direct calls', () => {
  it.each([
    ['2025', 'legacy'],
    ['2026-07-28', 'auto'],
  ] as const)(
    'a %s-era call returns a receipt that verifies with the published keys alone, discloses the call, and is stored with its record',
    async (_name, era) => {
      const client = await connect(era);
      const args = { ticket_id: 'TCK-1' };
      const r = await client.callTool({ name: 'get_ticket', arguments: args });
      await client.close();
      outputs.push(JSON.stringify(r));
      expect(r.isError).toBeFalsy();
      const issued = (r._meta as Record<string, Issued>)[RECEIPT_META_KEY]!;
      issuedReceipts.push(issued);
      const { receipt, salts } = issued;
      expect(verifyReceipt(receipt, keys)).toEqual([]);
      expect(receipt).toMatchObject({
        receipt_version: 1,
        workspace_id: expect.any(String),
        path: 'direct',
        server_id: example.serverId,
        tool: 'get_ticket',
        outcome: 'success',
        decisions: [{ rule: 'access', decision: 'allow' }],
        key_id: keys.keys[0]!.kid,
      });
      expect(receipt.principal.key_id).toEqual(expect.any(String));
      // The caller shows what it sent and what it received; nothing else of any other call.
      expect(saltedDigest(args, Buffer.from(salts.input_salt, 'base64url'))).toBe(receipt.input_hash);
      const received = {
        content: r.content,
        ...(r.structuredContent ? { structuredContent: r.structuredContent } : {}),
      };
      expect(saltedDigest(received, Buffer.from(salts.output_salt!, 'base64url'))).toBe(receipt.output_hash);
      expect(saltedDigest({ ticket_id: 'TCK-2' }, Buffer.from(salts.input_salt, 'base64url'))).not.toBe(
        receipt.input_hash,
      );
      // The same receipt, with its salts, is the record's.
      const record = await waitFor("the call's record", async () => {
        const got = await api.GET('/execution_records/{id}', { params: { path: { id: receipt.receipt_id } } });
        return got.response.status === 200 ? got.data : undefined;
      });
      expect(record!.receipt).toEqual(issued);
    },
  );

  it('a receipt changed in any member no longer verifies, nor one checked against a key not published', async () => {
    const { receipt } = issuedReceipts[0]!;
    expect(issuedReceipts[1]!.receipt.receipt_id).not.toBe(receipt.receipt_id);
    const changes: Partial<Receipt>[] = [
      { outcome: 'tool_error' },
      { tool: 'create_ticket' },
      { issued_at: new Date(Date.parse(receipt.issued_at) + 1).toISOString() },
      { principal: { key_id: 'someone-else' } },
      { decisions: [{ rule: 'access', decision: 'refuse' }] },
      { input_hash: issuedReceipts[1]!.receipt.input_hash },
    ];
    for (const change of changes) expect(verifyReceipt({ ...receipt, ...change }, keys)).not.toEqual([]);
    const other = { keys: [{ ...keys.keys[0]!, not_before: new Date(Date.now() + 3_600_000).toISOString() }] };
    expect(verifyReceipt(receipt, other).map((p) => p.kind)).toEqual(['key_validity']);
  });

  it('the receipt signing key appears in no output: logs, spans, Redis, PostgreSQL, answers', async () => {
    const records = await unwrap(api.GET('/execution_records', { params: { query: { limit: 50 } } }));
    expect(records.data.length).toBeGreaterThanOrEqual(2);
    const { places, leaks } = await watch.sweep(stack, { outputs: outputs.join('\n') });
    expect(leaks).toEqual([]);
    // The search covered real output: the receipts went through Redis and PostgreSQL and reached the caller.
    expect(signingKeyForms().every((f) => f.length >= 40)).toBe(true);
    expect(places.postgres).toContain(issuedReceipts[0]!.receipt.signature);
    expect(places.outputs).toContain(issuedReceipts[1]!.receipt.signature);
    expect(watch.commandsSeen).toBeGreaterThan(0);
  });
});
