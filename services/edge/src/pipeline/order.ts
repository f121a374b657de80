import { rulePlan } from '@toolplane/access';
import { accessStage } from './access.ts';
import { approvalStage } from './approval.ts';
import { argumentGuardrailsStage } from './argument-guardrails.ts';
import { argumentsStage } from './arguments.ts';
import { cacheStage } from './cache.ts';
import { confirmationStage } from './confirmation.ts';
import { delegationStage } from './delegation.ts';
import { portableStage } from './portable.ts';
import { quotaStage } from './quota.ts';
import { sessionStage } from './session.ts';
import type { Stage } from './stage.ts';
import { taskOnlyStage } from './task-only.ts';
import { upstreamCredentialStage } from './upstream-credential.ts';

/**
 * The edge's stage of each rule. Their order is the one list of rules (`rules` in @toolplane/access, ADR 0097), which
 * also says which of them a call and a read of an attached server meet: the plans below are built from it once, as
 * this module loads (a rule of either path without its stage here fails the load). A portable rule (ADR 0101) has no
 * entry: `portableStage` makes its stage.
 */
const stages: Parameters<typeof rulePlan<Stage>>[1] = {
  arguments: argumentsStage,
  delegation: delegationStage,
  'argument-guardrails': argumentGuardrailsStage,
  access: accessStage,
  session: sessionStage,
  'upstream-credential': upstreamCredentialStage,
  'task-only': taskOnlyStage,
  confirmation: confirmationStage,
  approval: approvalStage,
  quota: quotaStage,
  cache: cacheStage,
};

/** The stages of a call of a tool, in the list's order (ADR 0077). */
export const callStages: readonly Stage[] = rulePlan('call', stages, portableStage);

/** The stages a read of an attached server's resource, prompt or completion meets, in the same order. */
export const readStages: readonly Stage[] = rulePlan('read', stages, portableStage);
