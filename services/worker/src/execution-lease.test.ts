import { describe, expect, it } from '@jest/globals';
import type { ExecutionPlan, HttpOperationPlan } from '@toolplane/contracts';
import {
  decideDelivery,
  idempotencyKeyFor,
  idempotencyKeyHeader,
  isIdempotent,
  isResendable,
  outcomeUnknownError,
  type DeliveryFacts,
} from './execution-lease.ts';

const http = (method: HttpOperationPlan['method'], extra: Partial<HttpOperationPlan> = {}): ExecutionPlan => ({
  kind: 'http',
  method,
  url: 'https://api.example.com/things',
  params: [],
  authHeaders: {},
  secrets: {},
  ...extra,
});

const first: DeliveryFacts = {
  redelivered: false,
  sentBefore: 0,
  expired: false,
  leaseLapsed: false,
  resendable: false,
};
const again = (f: Partial<DeliveryFacts>): DeliveryFacts => ({ ...first, redelivered: true, ...f });

describe('which operations may be sent again', () => {
  it('is idempotent by method unless the operation says otherwise', () => {
    for (const m of ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'] as const) expect(isIdempotent(http(m))).toBe(true);
    for (const m of ['POST', 'PATCH'] as const) expect(isIdempotent(http(m))).toBe(false);
    expect(isIdempotent(http('POST', { idempotent: true }))).toBe(true);
    expect(isIdempotent(http('PUT', { idempotent: false }))).toBe(false);
  });

  it('never sends workflows or external MCP tools again', () => {
    expect(isIdempotent({ kind: 'mcp', server: 's', url: 'https://mcp.example.com', remoteTool: 't' })).toBe(false);
    expect(isIdempotent({ kind: 'workflow', deploymentId: 'd', workflowId: 'w', ir: {}, secretNames: {} })).toBe(false);
  });

  it('names the idempotency-key header of operations that declare one; the key is stable per invocation', () => {
    expect(idempotencyKeyHeader(http('POST', { idempotencyKeyHeader: 'Idempotency-Key' }))).toBe('Idempotency-Key');
    expect(idempotencyKeyHeader(http('POST'))).toBeUndefined();
    expect(idempotencyKeyFor('3f1c')).toBe(idempotencyKeyFor('3f1c'));
    expect(idempotencyKeyFor('3f1c')).not.toBe(idempotencyKeyFor('3f1d'));
  });

  it('is safe to send again (and writes no lease) when idempotent or deduplicated by an idempotency key', () => {
    expect(isResendable(http('GET'))).toBe(true);
    expect(isResendable(http('POST', { idempotencyKeyHeader: 'Idempotency-Key' }))).toBe(true);
    expect(isResendable(http('PUT', { idempotent: false, idempotencyKeyHeader: 'Idempotency-Key' }))).toBe(true);
    expect(isResendable(http('POST'))).toBe(false);
    expect(isResendable(http('PUT', { idempotent: false }))).toBe(false);
    expect(isResendable({ kind: 'workflow', deploymentId: 'd', workflowId: 'w', ir: {}, secretNames: {} })).toBe(false);
  });
});

describe('the lease decision', () => {
  it('first delivery: sends, whatever the operation', () => {
    expect(decideDelivery(first)).toBe('send');
    expect(decideDelivery({ ...first, resendable: true })).toBe('send');
  });

  it('first delivery past its deadline: expired in the queue (nothing was sent)', () => {
    expect(decideDelivery({ ...first, expired: true })).toBe('expired');
    expect(decideDelivery({ ...first, expired: true, resendable: true })).toBe('expired');
  });

  it('re-delivery without a lease: nothing left before, so it is sent', () => {
    expect(decideDelivery(again({}))).toBe('send');
  });

  it('re-delivery with a lease, not idempotent and no key: outcome unknown, never sent twice', () => {
    expect(decideDelivery(again({ sentBefore: 1 }))).toBe('outcome_unknown');
  });

  it('re-delivery of a call safe to send again (it writes no lease, so it may have left): sent again', () => {
    expect(decideDelivery(again({ resendable: true }))).toBe('resend');
    // A lease of an older worker, which wrote them for every call, changes nothing.
    expect(decideDelivery(again({ sentBefore: 1, resendable: true }))).toBe('resend');
  });

  it('re-delivery past the deadline: expired when nothing left, unknown when something may have', () => {
    expect(decideDelivery(again({ expired: true }))).toBe('expired');
    expect(decideDelivery(again({ expired: true, sentBefore: 1 }))).toBe('outcome_unknown');
    // No lease tells whether a call safe to send again left before: it may have.
    expect(decideDelivery(again({ expired: true, resendable: true }))).toBe('outcome_unknown');
  });

  it('re-delivery after the lease could have expired: unknown (whether a request left cannot be told)', () => {
    expect(decideDelivery(again({ expired: true, leaseLapsed: true }))).toBe('outcome_unknown');
    // A first delivery that late never sent anything.
    expect(decideDelivery({ ...first, expired: true, leaseLapsed: true })).toBe('expired');
  });

  it('tells the caller the invocation id and that the outcome is unknown', () => {
    const e = outcomeUnknownError('inv-42', 'not_idempotent');
    expect(e.code).toBe('tool.outcome_unknown');
    expect(e.kind).toBe('transient');
    expect(e.message).toContain('inv-42');
    expect(e.message).toMatch(/outcome .* is unknown/);
  });
});
