import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { ExecutionRecord, ToolInvokeJob, ToolResultPayload } from '@toolplane/contracts';
import { RECEIPT_META_KEY, ReceiptSigner, saltedDigest, verifyReceipt } from '@toolplane/receipts';
import { callReceipt, receiptResult, withReceipt } from './call-receipts.ts';

const signer = new ReceiptSigner(generateKeyPairSync('ed25519').privateKey);
const keys = { keys: [signer.publicKey('2026-01-01T00:00:00.000Z')] };

const job = (more: Partial<ToolInvokeJob> = {}): ToolInvokeJob =>
  ({
    v: 2,
    invocationId: '6f1c2a8e-0000-4000-8000-000000000001',
    serverId: 'srv-1',
    catalogVersion: 7,
    tool: 'get_ticket',
    arguments: { ticket_id: 'TCK-1' },
    principal: { workspaceId: 'ws-1', keyId: 'key-1', username: 'ada@example.com' },
    deadlineAt: Date.now() + 60_000,
    replyTo: 'edge-1',
    ...more,
  }) as ToolInvokeJob;

const record = (outcome: ExecutionRecord['outcome'] = 'success'): ExecutionRecord => ({
  v: 1,
  invocationId: '6f1c2a8e-0000-4000-8000-000000000001',
  workspaceId: 'ws-1',
  serverId: 'srv-1',
  catalogVersion: 7,
  tool: 'get_ticket',
  caller: { keyId: 'key-1', username: 'ada@example.com' },
  startedAt: '2026-11-29T10:00:00.000Z',
  durationMs: 3,
  outcome,
  steps: [],
  guardrails: [{ guardrail: 'g', detector: 'secrets', path: '$.token', action: 'redact' }],
});

const result: ToolResultPayload = {
  content: [{ type: 'text', text: '{"id":"TCK-1"}' }],
  structuredContent: { id: 'TCK-1' },
  _meta: { 'toolplane/cache': { hit: false } },
};

describe("a call's receipt", () => {
  it('says who called what under which rules, signed; its salts disclose the arguments and the result', () => {
    const issuedAt = Date.parse('2026-11-29T10:00:00.003Z');
    const { receipt, salts } = callReceipt(
      signer,
      job({ rules: { approval: { key: 'k', id: 'a', timeoutMs: 1 } } }),
      record(),
      { issuedAt, result },
    );
    expect(verifyReceipt(receipt as never, keys)).toEqual([]);
    expect(receipt).toMatchObject({
      receipt_version: 1,
      receipt_id: '6f1c2a8e-0000-4000-8000-000000000001',
      workspace_id: 'ws-1',
      principal: { key_id: 'key-1' },
      acting_for: 'ada@example.com',
      path: 'direct',
      server_id: 'srv-1',
      tool: 'get_ticket',
      policy: { catalog_version: 7 },
      decisions: [
        { rule: 'access', decision: 'allow' },
        { rule: 'approval', decision: 'approved' },
        { rule: 'guardrails', decision: 'redact' },
      ],
      outcome: 'success',
      started_at: '2026-11-29T10:00:00.000Z',
      issued_at: '2026-11-29T10:00:00.003Z',
      key_id: signer.keyId,
    });
    expect(saltedDigest({ ticket_id: 'TCK-1' }, Buffer.from(salts.input_salt, 'base64url'))).toBe(receipt.input_hash);
    // The result as the caller reads it, without `_meta` (the cache's report, the receipt itself).
    const shown = { content: result.content, structuredContent: result.structuredContent };
    expect(receiptResult(result)).toEqual(shown);
    expect(saltedDigest(shown, Buffer.from(salts.output_salt!, 'base64url'))).toBe(receipt.output_hash);
  });

  it('names the path a call came by, and has no output digest when the call ended without a result', () => {
    const task = callReceipt(signer, job({ task: { id: 't-1' } }), record('failed'), {
      issuedAt: Date.now(),
      result: undefined,
    });
    expect(task.receipt).toMatchObject({ path: 'task', outcome: 'failed' });
    expect(task.receipt.output_hash).toBeUndefined();
    expect(task.salts.output_salt).toBeUndefined();
    const inner = callReceipt(signer, job({ parentInvocationId: 'p-1' }), record(), {
      issuedAt: Date.now(),
      result: result,
    });
    expect(inner.receipt.path).toBe('code');
  });

  it("rides in the result's _meta beside what is there, never on a failed reply", () => {
    const issued = callReceipt(signer, job(), record(), { issuedAt: Date.now(), result });
    const ok = withReceipt({ v: 1, invocationId: 'i', ok: true, result }, issued);
    expect(ok.ok && ok.result._meta).toEqual({ ...result._meta, [RECEIPT_META_KEY]: issued });
    const failed = {
      v: 1 as const,
      invocationId: 'i',
      ok: false as const,
      error: { kind: 'internal' as const, code: 'x', message: 'y' },
    };
    expect(withReceipt(failed as never, issued)).toBe(failed);
  });
});
