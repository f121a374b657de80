import { readFileSync } from 'node:fs';
import type { ExecutionRecord, ToolInvokeJob, ToolInvokeResult, ToolResultPayload } from '@toolplane/contracts';
import {
  issueReceipt,
  RECEIPT_META_KEY,
  ReceiptSigner,
  type ReceiptDecision,
  type ReceiptPrincipal,
} from '@toolplane/receipts';

/**
 * A call's receipt (ADR 0111): signed in the worker where its record is made, from the job and the record, with the
 * result as the caller receives it; stored with the record and returned in the result's `_meta`. Nothing is read from
 * Redis for it: the key is in memory, the facts are the job's.
 */

/** The signer of `RECEIPT_SIGNING_KEY_FILE` (an Ed25519 PKCS #8 PEM); undefined when it is unset (no receipts). */
export function receiptSigner(env: { RECEIPT_SIGNING_KEY_FILE?: string | undefined }): ReceiptSigner | undefined {
  const file = env.RECEIPT_SIGNING_KEY_FILE;
  return file ? new ReceiptSigner(readFileSync(file, 'utf8')) : undefined;
}

/** A receipt and its salts, as the record keeps them and the result's `_meta` carries them. */
export type IssuedReceipt = NonNullable<ExecutionRecord['receipt']>;

/** Which way the call came: a task's, a program's inner call, or a direct call. */
const pathOf = (job: ToolInvokeJob) => (job.task ? 'task' : job.parentInvocationId ? 'code' : 'direct');

function principalOf(job: ToolInvokeJob): ReceiptPrincipal {
  const p = job.principal;
  return {
    ...(p.keyId ? { key_id: p.keyId } : p.subject !== undefined ? { subject: p.subject } : {}),
    ...(p.delegation ? { delegation: { token_id: p.delegation.tokenId, actors: p.delegation.actors } } : {}),
  };
}

/**
 * The rules' parts in a call that reached the worker: access allowed it (else it was refused at the edge), then what
 * each rule the edge handed on decided, then the guardrails on arguments and on the result (each action once).
 */
function decisionsOf(job: ToolInvokeJob, rec: ExecutionRecord): ReceiptDecision[] {
  const rules = job.rules;
  const decisions: ReceiptDecision[] = [{ rule: 'access', decision: 'allow' }];
  if (rules?.delegation || job.principal.delegation) decisions.push({ rule: 'delegation', decision: 'allow' });
  if (rules?.session) decisions.push({ rule: 'session', decision: 'allow' });
  if (rules?.approval) decisions.push({ rule: 'approval', decision: 'approved' });
  if (rules?.quota) decisions.push({ rule: 'quota', decision: 'allow' });
  const actions = new Set((rec.guardrails ?? []).map((g) => g.action));
  for (const action of [...actions].sort()) decisions.push({ rule: 'guardrails', decision: action });
  return decisions;
}

/** What of a result its receipt digests: what the caller reads (content, structured content, isError), no `_meta`. */
export function receiptResult(result: ToolResultPayload): unknown {
  return {
    content: result.content,
    ...(result.structuredContent !== undefined ? { structuredContent: result.structuredContent } : {}),
    ...(result.isError ? { isError: true } : {}),
  };
}

/** The receipt of a job's record, with the result that leaves (absent: the call ended without one). */
export function callReceipt(
  signer: ReceiptSigner,
  job: ToolInvokeJob,
  rec: ExecutionRecord,
  { issuedAt, result }: { issuedAt: number; result: ToolResultPayload | undefined },
): IssuedReceipt {
  const p = job.principal;
  const { receipt, salts } = issueReceipt(signer, {
    receipt_id: rec.invocationId,
    ...(rec.parentInvocationId ? { parent_receipt_id: rec.parentInvocationId } : {}),
    workspace_id: rec.workspaceId,
    principal: principalOf(job),
    ...(p.username ? { acting_for: p.username } : {}),
    path: pathOf(job),
    server_id: rec.serverId,
    tool: rec.tool,
    policy: { catalog_version: rec.catalogVersion },
    decisions: decisionsOf(job, rec),
    outcome: rec.outcome,
    started_at: rec.startedAt,
    issued_at: new Date(issuedAt).toISOString(),
    arguments: job.arguments,
    ...(result ? { result: receiptResult(result) } : {}),
  });
  return { receipt, salts };
}

/** A reply with its call's receipt and salts in the result's `_meta` (a failed reply, none). */
export function withReceipt(reply: ToolInvokeResult, issued: IssuedReceipt | undefined): ToolInvokeResult {
  if (!issued || !reply.ok) return reply;
  const _meta = { ...reply.result._meta, [RECEIPT_META_KEY]: issued };
  return { ...reply, result: { ...reply.result, _meta } };
}
