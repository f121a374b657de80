import { readFileSync } from 'node:fs';
import type { ToolInvokeJob } from '@toolplane/contracts';
import { RecordArgumentsSealer } from '@toolplane/secrets';

/**
 * The arguments a call's execution record keeps (ADR 0080): the job's arguments (after the edge's guardrails on
 * arguments redacted what they redact) sealed to the control plane's backtest key, with the record's id bound in. The
 * worker cannot open them; only `POST /governance/backtest` does. A job's `request` (no tool call) keeps none, nor a
 * call whose arguments a guardrail found something in and left as they were (`foundIn`).
 */
export type ArgumentSealer = (job: ToolInvokeJob, recordId: string) => string | undefined;

/**
 * The sealer of `RECORD_ARGUMENTS_PUBLIC_KEY_FILE` or `RECORD_ARGUMENTS_PUBLIC_KEY`; undefined when neither is set
 * (records keep no arguments).
 */
export function recordArgumentsSealer(env: {
  RECORD_ARGUMENTS_PUBLIC_KEY_FILE?: string | undefined;
  RECORD_ARGUMENTS_PUBLIC_KEY?: string | undefined;
}): ArgumentSealer | undefined {
  const file = env.RECORD_ARGUMENTS_PUBLIC_KEY_FILE;
  const key = env.RECORD_ARGUMENTS_PUBLIC_KEY ?? (file ? readFileSync(file, 'utf8') : undefined);
  if (!key) return undefined;
  const sealer = new RecordArgumentsSealer(key);
  return (job, recordId) => (job.request || foundIn(job) ? undefined : sealer.seal(job.arguments, recordId));
}

/**
 * Whether guardrails on arguments found something the job still carries as it was sent (flagged, or log only): such
 * arguments are not kept at all, so that a value a guardrail found never rests anywhere, even sealed. Values an
 * enforced `redact` replaced are gone from the arguments already.
 */
function foundIn(job: ToolInvokeJob): boolean {
  return job.rules?.guardrails?.arguments.some((f) => f.action !== 'redact') ?? false;
}
