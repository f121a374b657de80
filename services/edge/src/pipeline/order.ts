import { accessStage } from './access.ts';
import { approvalStage } from './approval.ts';
import { argumentGuardrailsStage } from './argument-guardrails.ts';
import { argumentsStage } from './arguments.ts';
import { cacheStage } from './cache.ts';
import { confirmationStage } from './confirmation.ts';
import { delegationStage } from './delegation.ts';
import { quotaStage } from './quota.ts';
import { sessionStage } from './session.ts';
import type { Stage } from './stage.ts';
import { taskOnlyStage } from './task-only.ts';
import { upstreamCredentialStage } from './upstream-credential.ts';

/**
 * The order of the stages, the one place it is written (ADR 0077). Each later stage sees the call as the earlier ones
 * left it: the guardrails on arguments run before anything reads the arguments; the session rules after access (a
 * hold they ask for is the approval stage's); every stage that only refuses runs
 * before the ones that keep something (a person's answer, a spent approval, a quota charge), so that a refused call
 * costs nothing; the quota charges after every refusal; the cache answers only a charged call. A narrowed token's
 * limits (ADR 0084) come right after the arguments: its charge of calls is given back when a later stage refuses.
 */
export const callStages: readonly Stage[] = [
  argumentsStage,
  delegationStage,
  argumentGuardrailsStage,
  accessStage,
  sessionStage,
  upstreamCredentialStage,
  taskOnlyStage,
  confirmationStage,
  approvalStage,
  quotaStage,
  cacheStage,
];

/** The stages a read of an attached server's resource, prompt or completion meets, in the same order. */
export const readStages: readonly Stage[] = callStages.filter((stage) => stage.reads === true);
