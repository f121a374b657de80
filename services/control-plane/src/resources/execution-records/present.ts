/** Who called, as the `steps` column keeps it (what has no column of its own). */
interface Identity {
  subject: string | null;
  actingVia: string | null;
  delegation?: { tokenId: string; actors: string[]; grantId?: string };
}

/**
 * The `steps` column holds the step list, or `{ traceId?, spanId?, steps, tree?, guardrails?, shape?, cached?,
 * labels? }` for traced calls, workflow calls (their step tree), calls whose result guardrails found something, shaped
 * results, calls answered from the result cache, results that brought labels into their session (ADR 0078), and
 * `caller: { subject, actingVia, delegation? }` (OAuth subject, why a caller could act as a user, a narrowed token's
 * chain of actors, ADR 0084): none has a column of its own
 * (no schema change needed).
 */
function unpackSteps(value: unknown): {
  steps: unknown;
  traceId: string | null;
  tree: unknown;
  guardrails: unknown;
  shape: { bytesBefore: number; bytesAfter: number } | null;
  cached: boolean;
  labels: unknown;
  caller: Identity;
} {
  const none: Identity = { subject: null, actingVia: null };
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as {
      steps?: unknown;
      traceId?: unknown;
      tree?: unknown;
      guardrails?: unknown;
      shape?: { bytesBefore: number; bytesAfter: number };
      cached?: unknown;
      labels?: unknown;
      caller?: typeof none;
    };
    return {
      steps: v.steps ?? [],
      traceId: typeof v.traceId === 'string' ? v.traceId : null,
      tree: v.tree ?? null,
      guardrails: v.guardrails ?? [],
      shape: v.shape ?? null,
      cached: v.cached === true,
      labels: v.labels ?? [],
      caller: v.caller ?? none,
    };
  }
  const plain = { traceId: null, tree: null, guardrails: [], shape: null, cached: false, labels: [], caller: none };
  return { steps: value, ...plain };
}

export type RecordRow = {
  id: string;
  serverId: string;
  catalogVersion: number;
  tool: string;
  keyId: string | null;
  username: string | null;
  startedAt: Date;
  durationMs: number;
  outcome: string;
  errorCode: string | null;
  message: string | null;
  steps: unknown;
  debug: unknown;
  /** A call a `run_code` program made: the program's invocation (absent in rows read before the column). */
  parentInvocationId?: string | null;
  /** The API key's name (looked up; null for a deleted key or a token caller). */
  keyName?: string | null;
  /** A call the staging twin answered (ADR 0112); absent in rows read before the column. */
  twin?: boolean;
  /** The call's signed receipt and its salts (ADR 0111; read by `GET /execution_records/{id}` only). */
  receipt?: unknown;
};

/** A record as the API shows it (with `steps`, `tree` and `debug` for `GET /execution_records/{id}`). */
export function presentRecord(r: RecordRow, withSteps: boolean) {
  const { steps, traceId, tree, guardrails, shape, cached, labels, caller: identity } = unpackSteps(r.steps);
  return {
    id: r.id,
    server_id: r.serverId,
    catalog_version: r.catalogVersion,
    tool: r.tool,
    parent_invocation_id: r.parentInvocationId ?? null,
    caller: {
      key_id: r.keyId,
      key_name: r.keyName ?? null,
      subject: identity.subject,
      username: r.username,
      acting_via: identity.actingVia,
      ...(identity.delegation ? { delegation: delegationOf(identity.delegation) } : {}),
    },
    started_at: r.startedAt,
    duration_ms: r.durationMs,
    outcome: r.outcome,
    error_code: r.errorCode,
    message: r.message,
    /** OpenTelemetry trace id (null when tracing was off): search it in Jaeger. */
    trace_id: traceId,
    twin: r.twin ?? false,
    // What the result's guardrails found: guardrail, detector, JSON path, action (never the value).
    guardrails,
    // A shaped result's bytes before and after its shape (null: not shaped).
    shape: shape && { bytes_before: shape.bytesBefore, bytes_after: shape.bytesAfter },
    // Answered by the edge from the result cache (ADR 0067): no step.
    cached,
    // What the result brought into the caller's session (ADR 0078): label, source, detector.
    labels,
    // tree: workflow calls' flow.run → step.run → action.run tree (null for other tools).
    // receipt: the call's signed receipt and the salts of its digests (ADR 0111; null: none was made).
    ...(withSteps ? { steps, tree, debug: r.debug ?? null, receipt: r.receipt ?? null } : {}),
  };
}

/** A narrowed token's call: the token, its chain of actors, and the task grant it was redeemed from (ADR 0108). */
function delegationOf(d: NonNullable<Identity['delegation']>) {
  return { token_id: d.tokenId, actors: d.actors, ...(d.grantId !== undefined ? { grant_id: d.grantId } : {}) };
}
