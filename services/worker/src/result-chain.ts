import type {
  ExecutionRecord,
  ExecutionTreeNode,
  GuardrailFinding,
  ToolInvokeEvent,
  ToolInvokeJob,
  ToolResultPayload,
} from '@toolplane/contracts';
import { applyGuardrails, type CompiledGuardrail } from '@toolplane/guardrails';
import { recordResultShaped } from '@toolplane/telemetry';
import { guardDebug, guardResult, type GuardrailDeps } from './guardrails.ts';
import { patternFor, redactSecrets, redactValue } from './redact.ts';
import { shapeResult, type ResultShape } from './result-shapes.ts';
import { recordLabels, SESSION_NOT_UPDATED, SessionNotUpdated, type RecordLabels } from './session-labels.ts';

/**
 * The one chain a tool's result goes through at the end of the worker's processing, in this order:
 * the tool's shape (ADR 0052: a projection may join harmless parts into a card number or a key), then the guardrails
 * and the redaction of the call's credentials on what leaves (structured content, content blocks with a JSON text
 * scanned as its decoded value and written again from it, `_meta`), then the execution record and the debug capture,
 * the capture redacted again after the guardrails rewrote it. A call that keeps a session (ADR 0078) writes what the
 * result brings into it before it is recorded and leaves (`bring`): if that fails, nothing of the result leaves.
 */

/** What a tool's run gives the chain: its result as the tool answered, and what its record says. */
export interface RunOutcome {
  result: ToolResultPayload;
  /** The values to redact: every form the call sent its credentials in. */
  secretValues: (string | undefined)[];
  /** The run succeeded (a workflow's own verdict; otherwise: the result is no error). */
  ok: boolean;
  /** The record of a failed run: its error code and message. */
  failure?: { errorCode: string; message?: string };
  /** A workflow's tree; a 2026-07-28 `input_required` round, not charged. */
  tree?: ExecutionTreeNode[];
  uncharged?: true;
  /** The call's debug capture while a session is open, each text already redacted and scrubbed before its cap. */
  debug?: ExecutionRecord['debug'];
  /** What the guardrails found in what was relayed during the call (progress, log messages). */
  relayed?: GuardrailFinding[];
  /** What a workflow's steps brought into the caller's session (already written; ADR 0078). */
  labels?: RecordLabels;
}

/** What the chain writes into the call's execution record. */
export interface ChainRecord {
  errorCode?: string;
  message?: string;
  guardrails?: GuardrailFinding[];
  debug?: ExecutionRecord['debug'];
  tree?: ExecutionTreeNode[];
  uncharged?: true;
  shape?: ExecutionRecord['shape'];
  /** What the result brought into the caller's session (ADR 0078). */
  labels?: ExecutionRecord['labels'];
}

/** The call as the chain sees it: its job, and how its record is written. */
export interface ChainCall {
  job: ToolInvokeJob;
  /** `result`: what leaves for the caller, which the call's receipt digests (ADR 0111). */
  record: (outcome: ExecutionRecord['outcome'], extra: ChainRecord, result?: ToolResultPayload) => void;
  /**
   * Writes what the result brings into the caller's session (a job with `rules.session`; session-labels.ts): the
   * findings on what left (none of a withheld result's; those of relayed notifications that reached the caller).
   * Rejects: the call is recorded `failed` and `SessionNotUpdated` thrown (nothing of the result leaves).
   */
  bring?: (found: readonly GuardrailFinding[], withheld: boolean) => Promise<RecordLabels | undefined>;
}

/** A tool's result through the chain: shaped, guarded, redacted, recorded; what leaves for the caller. */
export async function resultChain(
  deps: GuardrailDeps,
  call: ChainCall,
  ran: RunOutcome,
  shape: ResultShape | undefined,
): Promise<ToolResultPayload> {
  const shaped = shape ? shapeResult(ran.result, shape) : { result: ran.result };
  if (shaped.report) recordResultShaped(call.job.tool, shaped.report.bytesBefore, shaped.report.bytesAfter);
  const guarded = await guardResult(deps, call.job, shaped.result, ran.secretValues);
  const result = redactSecrets(guarded.result, ran.secretValues);
  // Guarded (a rewrite of its texts), then redacted again: nothing the rewrite decoded is kept in clear.
  const debug = ran.debug && redactValue(guardDebug(ran.debug, guarded), ran.secretValues);
  const success = ran.ok && !guarded.withheld && !result.isError;
  const found = [...(guarded.record.guardrails ?? []), ...(ran.relayed ?? [])];
  const extra: ChainRecord = {
    ...(found.length > 0 ? { guardrails: found } : {}),
    ...(debug ? { debug } : {}),
    ...(ran.tree ? { tree: ran.tree } : {}),
    ...(ran.uncharged && success ? { uncharged: true as const } : {}),
    ...(shaped.report
      ? { shape: { bytesBefore: shaped.report.bytesBefore, bytesAfter: shaped.report.bytesAfter } }
      : {}),
    ...(ran.labels?.length ? { labels: ran.labels } : {}),
  };
  if (call.bring) {
    // What reached the caller: the result's findings (none of a withheld one), relayed notifications not dropped.
    const reached = [...(guarded.withheld ? [] : (guarded.record.guardrails ?? [])), ...(ran.relayed ?? [])];
    try {
      const labels = await call.bring(
        reached.filter((f) => f.action !== 'block'),
        guarded.withheld,
      );
      if (labels) extra.labels = recordLabels([...(extra.labels ?? []), ...labels]);
    } catch (err) {
      call.record('failed', { ...extra, errorCode: 'state.unavailable', message: SESSION_NOT_UPDATED });
      throw new SessionNotUpdated(err);
    }
  }
  call.record(
    success ? 'success' : 'tool_error',
    {
      ...(success ? {} : ran.failure),
      ...guarded.record,
      ...extra,
    },
    result,
  );
  return result;
}

type Relayed = Extract<ToolInvokeEvent['event'], { kind: 'progress' | 'log' }>;

/** What of a relayed notification is text from the external server: a progress message, a log's logger and data. */
const textOf = (event: Relayed): Record<string, unknown> =>
  event.kind === 'progress'
    ? { ...(event.message !== undefined ? { message: event.message } : {}) }
    : { ...(event.logger !== undefined ? { logger: event.logger } : {}), data: event.data };

/**
 * What an external server relays during a call (progress and log notifications) through the call's guardrails and
 * the redaction of its credentials before it reaches the caller, as its result does: redacted, dropped when an
 * enforced block finds something in it (nothing of it is relayed), or as it is. Findings are collected in `found`,
 * their paths under `notifications/progress` or `notifications/message`.
 */
export function relayedEvents(
  deps: Pick<GuardrailDeps, 'maxScanBytes'>,
  guardrails: readonly CompiledGuardrail[],
  secretValues: (string | undefined)[],
  found: GuardrailFinding[],
): (event: Relayed) => Relayed | undefined {
  const ownSecrets = patternFor(secretValues);
  return (event) => {
    let text = textOf(event);
    if (guardrails.length > 0) {
      const out = applyGuardrails(text, guardrails, { maxScanBytes: deps.maxScanBytes, ownSecrets });
      const method = event.kind === 'progress' ? 'notifications/progress' : 'notifications/message';
      for (const f of out.findings) found.push({ ...f, path: `${method}:${f.path}` });
      if (out.withheld) return undefined;
      text = out.value as Record<string, unknown>;
    }
    return { ...event, ...redactValue(text, secretValues) } as Relayed;
  };
}
