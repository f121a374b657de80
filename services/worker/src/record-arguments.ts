import { readFileSync } from 'node:fs';
import type { ToolInvokeJob } from '@toolplane/contracts';
import { RecordArgumentsSealer } from '@toolplane/secrets';

/**
 * The arguments a call's execution record keeps (ADR 0080): the job's arguments (after the edge's guardrails on
 * arguments redacted what they redact) sealed to the control plane's backtest key, with the record's id bound in. The
 * worker cannot open them; only `POST /governance/backtest` does. A job's `request` (no tool call) keeps none.
 */
export type ArgumentSealer = (job: ToolInvokeJob, recordId: string) => string | undefined;

/** The sealer of `RECORD_ARGUMENTS_PUBLIC_KEY_FILE`; undefined when it is unset (records keep no arguments). */
export function recordArgumentsSealer(publicKeyFile: string | undefined): ArgumentSealer | undefined {
  if (!publicKeyFile) return undefined;
  const sealer = new RecordArgumentsSealer(readFileSync(publicKeyFile, 'utf8'));
  return (job, recordId) => (job.request ? undefined : sealer.seal(job.arguments, recordId));
}
