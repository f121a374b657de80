import type { ExecutionRecord, GuardrailFinding, ToolInvokeJob, ToolResultPayload } from '@toolplane/contracts';
import { applyGuardrails, guardrailsFor, type CompiledGuardrail } from '@toolplane/guardrails';
import type { Logger } from '@toolplane/logger';
import type { PlanCache } from './catalog-cache.ts';
import { errorResult } from './http-operation.ts';
import { patternFor } from './redact.ts';

/** What applying guardrails needs: the plans (their compiled guardrails), the scan limit, the log. */
export interface GuardrailDeps {
  plans: Pick<PlanCache, 'guardrails'>;
  maxScanBytes: number;
  log: Pick<Logger, 'info'>;
}

/** A result after the guardrails, and what its execution record says of them. */
export interface Guarded {
  result: ToolResultPayload;
  /** Findings (detector, path, action: never a value); a withheld result's `errorCode` and `message`. */
  record: { guardrails?: GuardrailFinding[]; errorCode?: string; message?: string };
  withheld: boolean;
  /** The guardrails applied (for the call's debug capture). */
  guardrails: readonly CompiledGuardrail[];
}

/** The key of a result's `_meta` listing what enforced guardrails did to it. */
const GUARDRAILS_META = 'toolplane/guardrails';

/** The guardrails that apply to a job's result (a request that is no tool call: those of the whole server). */
export function jobGuardrails(
  deps: GuardrailDeps,
  job: ToolInvokeJob,
): readonly CompiledGuardrail[] | Promise<readonly CompiledGuardrail[]> {
  const of = (all: readonly CompiledGuardrail[]) =>
    all.length === 0 ? all : guardrailsFor(all, job.request ? undefined : job.tool);
  const all = deps.plans.guardrails(job.serverId, job.catalogVersion);
  return all instanceof Promise ? all.then(of) : of(all);
}

/**
 * A tool result through its server's guardrails, before it leaves the worker: what leaves is scanned (its structured
 * content, its content blocks, a text block that is JSON as its decoded value, and its `_meta`; with the call's own
 * credentials, `secretValues`, for the `secrets` detector), then redacted (a JSON text block written again from the
 * value scanned), withheld (a tool error naming the detector and the path, nothing of the result) or returned as is;
 * what enforced guardrails did is listed in `_meta["toolplane/guardrails"]`. No guardrail: the result as it is,
 * nothing scanned.
 */
export function guardResult(
  deps: GuardrailDeps,
  job: ToolInvokeJob,
  result: ToolResultPayload,
  secretValues: Iterable<string | undefined>,
): Guarded | Promise<Guarded> {
  const guardrails = jobGuardrails(deps, job);
  return guardrails instanceof Promise
    ? guardrails.then((g) => applyToResult(deps, job, { result, secretValues }, g))
    : applyToResult(deps, job, { result, secretValues }, guardrails);
}

type Block = ToolResultPayload['content'][number];

/** A text block's JSON value (a text that starts as an object or an array and parses), else undefined. */
function jsonOfText(block: Block): { value: unknown } | undefined {
  const text = block.type === 'text' ? block.text : undefined;
  if (typeof text !== 'string' || !/^\s*[[{]/.test(text)) return undefined;
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

/** What is scanned of a result: its blocks (a JSON text as its value: escapes decoded), structured content, `_meta`. */
interface ResultView {
  content: Block[];
  structuredContent?: unknown;
  _meta?: unknown;
}

function viewOf(result: ToolResultPayload): { view: ResultView; decoded: (unknown | typeof PLAIN)[] } {
  const decoded = result.content.map((block) => jsonOfText(block)?.value ?? PLAIN);
  const content = result.content.map((block, i) => (decoded[i] === PLAIN ? block : { ...block, text: decoded[i] }));
  return {
    view: {
      content: content as Block[],
      ...(result.structuredContent !== undefined ? { structuredContent: result.structuredContent } : {}),
      ...(result._meta !== undefined ? { _meta: result._meta } : {}),
    },
    decoded,
  };
}

/** A text block that is no JSON text (scanned as text). */
const PLAIN = Symbol('plain');

/** The blocks as scanned: a JSON text block the guardrails changed written again from its value, the others as sent. */
function blocksOf(result: ToolResultPayload, scanned: ResultView, decoded: readonly unknown[]): Block[] {
  return scanned.content.map((block, i) => {
    const original = result.content[i]!;
    if (decoded[i] === PLAIN) return block;
    if (block === original) return original;
    const text = (block as { text?: unknown }).text;
    return { ...block, text: text === decoded[i] ? original.text : JSON.stringify(text) } as Block;
  });
}

/** A result through the guardrails found for it (none: the result as it is, nothing scanned). */
function applyToResult(
  deps: GuardrailDeps,
  job: ToolInvokeJob,
  { result, secretValues }: { result: ToolResultPayload; secretValues: Iterable<string | undefined> },
  guardrails: readonly CompiledGuardrail[],
): Guarded {
  if (guardrails.length === 0) return { result, record: {}, withheld: false, guardrails };
  const { view, decoded } = viewOf(result);
  const out = applyGuardrails(view, guardrails, {
    maxScanBytes: deps.maxScanBytes,
    ownSecrets: patternFor(secretValues),
    mcpContent: true,
  });
  if (out.findings.length > 0)
    deps.log.info(
      { invocationId: job.invocationId, tool: job.tool, findings: out.findings, more: out.more },
      out.withheld ? 'guardrail withheld a result' : 'guardrail findings',
    );
  if (out.withheld) {
    const { detector, path } = out.withheld;
    const message = `A guardrail withheld this result: ${detector} found at ${path}`;
    return {
      result: { ...errorResult(message), _meta: { [GUARDRAILS_META]: [out.withheld] } },
      record: { guardrails: out.findings, errorCode: 'guardrail.blocked', message },
      withheld: true,
      guardrails,
    };
  }
  const enforced = out.findings.filter((f) => !f.action.startsWith('would_'));
  const scanned = out.value as ResultView;
  const guarded: ToolResultPayload =
    scanned === view
      ? { ...result }
      : {
          ...result,
          content: blocksOf(result, scanned, decoded),
          ...(scanned.structuredContent !== undefined
            ? { structuredContent: scanned.structuredContent as ToolResultPayload['structuredContent'] }
            : {}),
          ...(scanned._meta !== undefined ? { _meta: scanned._meta as ToolResultPayload['_meta'] } : {}),
        };
  if (enforced.length > 0) guarded._meta = { ...guarded._meta, [GUARDRAILS_META]: enforced };
  const record = out.findings.length > 0 ? { guardrails: out.findings } : {};
  return { result: guarded, record, withheld: false, guardrails };
}

/** A relayed answer (a resource read, a prompt) after the guardrails, and what its record says of them. */
export type GuardedValue =
  | { value: unknown; record: { guardrails?: GuardrailFinding[] } }
  | { withheld: string; record: { guardrails: GuardrailFinding[]; errorCode: string; message: string } };

/**
 * An external server's answer to a request that is no tool call (`resources/read`, `prompts/get`) through its
 * server's guardrails (those without tools: they apply to the whole server), as a tool result is: redacted, withheld
 * (the caller gets a JSON-RPC error naming the detector and the path) or relayed as is, findings in the record.
 */
export async function guardValue(
  deps: GuardrailDeps,
  job: ToolInvokeJob,
  value: unknown,
  secretValues: Iterable<string | undefined>,
): Promise<GuardedValue> {
  const guardrails = await jobGuardrails(deps, job);
  if (guardrails.length === 0) return { value, record: {} };
  const out = applyGuardrails(value, guardrails, {
    maxScanBytes: deps.maxScanBytes,
    ownSecrets: patternFor(secretValues),
    mcpContent: true,
  });
  if (out.findings.length > 0)
    deps.log.info(
      { invocationId: job.invocationId, request: job.request?.method, findings: out.findings, more: out.more },
      out.withheld ? 'guardrail withheld an answer' : 'guardrail findings',
    );
  if (out.withheld) {
    const message = `A guardrail withheld this answer: ${out.withheld.detector} found at ${out.withheld.path}`;
    return { withheld: message, record: { guardrails: out.findings, errorCode: 'guardrail.blocked', message } };
  }
  return { value: out.value, record: out.findings.length > 0 ? { guardrails: out.findings } : {} };
}

/** The guardrails as debug captures apply them: every match redacted, whatever their action, mode or size limit. */
const redactingAll = (guardrails: readonly CompiledGuardrail[]): CompiledGuardrail[] =>
  guardrails.map(({ rule: { maxBytes: _unbounded, ...rule }, detectors }) => ({
    rule: { ...rule, action: 'redact' as const, enforce: true },
    detectors,
  }));

const UNBOUNDED = { maxScanBytes: Number.POSITIVE_INFINITY };

/**
 * What each text of a debug capture (a header, a body) goes through before it is capped: every match of the
 * guardrails redacted, whatever their action or mode (what they find never reaches a debug session). A JSON body is
 * scanned as JSON too (its strings unescaped, its keys: a value written `\/` or `\u0040` is found) and written
 * again, compact, when something was; then as text. No guardrail: undefined (the text as it is).
 */
export function debugScrubber(guardrails: readonly CompiledGuardrail[]): ((text: string) => string) | undefined {
  if (guardrails.length === 0) return undefined;
  const redacting = redactingAll(guardrails);
  return (text) => {
    let out = text;
    if (/^\s*[[{]/.test(text)) {
      try {
        const parsed: unknown = JSON.parse(text);
        const scanned = applyGuardrails(parsed, redacting, UNBOUNDED).value;
        if (scanned !== parsed) out = JSON.stringify(scanned);
      } catch {
        // Not JSON (or cut): scanned as text only.
      }
    }
    return applyGuardrails(out, redacting, UNBOUNDED).value as string;
  };
}

/** The scrubber of a job's debug captures (`debugScrubber` of the guardrails its result goes through). */
export async function jobDebugScrubber(
  deps: GuardrailDeps,
  job: ToolInvokeJob,
): Promise<((text: string) => string) | undefined> {
  return debugScrubber(await jobGuardrails(deps, job));
}

/** What a debug capture keeps of a response body a guardrail withheld the result of. */
const WITHHELD_BODY = '[withheld by a guardrail]';

type Debug = NonNullable<ExecutionRecord['debug']>;
type CapturedResponse = Debug['response'];

const withheldBody = (response: CapturedResponse): CapturedResponse =>
  response?.body === undefined ? response : { ...response, body: WITHHELD_BODY };

/**
 * A debug capture (headers and bodies of upstream exchanges) with every match of the guardrails redacted, whatever
 * their action or mode: what they find never reaches a debug session (its texts went through `debugScrubber` before
 * their cap; this also covers the rest of the capture). Of a withheld result (an enforced block), no response body
 * is kept at all: only what the guardrails detect would be redacted from it, and nothing of it may be seen. Not
 * capped (the capture already is).
 */
export function guardDebug<T extends ExecutionRecord['debug']>(
  debug: T,
  guarded: Pick<Guarded, 'guardrails' | 'withheld'>,
): T {
  if (!debug || guarded.guardrails.length === 0) return debug;
  const kept: Debug = guarded.withheld
    ? {
        ...debug,
        ...(debug.response ? { response: withheldBody(debug.response) } : {}),
        ...(debug.steps
          ? { steps: debug.steps.map((step) => ({ ...step, response: withheldBody(step.response) })) }
          : {}),
      }
    : debug;
  return applyGuardrails(kept, redactingAll(guarded.guardrails), UNBOUNDED).value as T;
}
