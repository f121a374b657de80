import type { ToolOutcome } from '@toolplane/contracts';
import { confirmationEvent, type ConfirmationOutcome } from '@toolplane/access';
import { callEvents } from '../calls/call-audit.ts';
import { confirmSealing } from '../calls/call-types.ts';
import { confirmationPrompt, confirmedResult, type Confirmation } from '../confirmation/confirmation.ts';
import { errorResult, refuse } from './refusal.ts';
import type { CallState, Stage, Verdict } from './stage.ts';

/**
 * A tool marked `confirm` (ADR 0038): the person the client asks accepts before anything is enqueued. The stage asks
 * (the 2026-07-28 `input_required` that asks is its answer), refuses a call declined, cancelled or that could not be
 * asked (with its execution record), and lets an accepted one go on; each decision is an audit event, its arguments
 * masked. An accepted call's result carries what its later rounds need (`confirmedResult`).
 */
export const confirmationStage: Stage = {
  name: 'confirmation',
  appliesTo: (tool) => tool.rules.confirm === true,
  run: confirmCall,
};

/** What a call that was not confirmed becomes: its audit outcome, the code of its record and its tool error. */
interface Unconfirmed {
  readonly outcome: Exclude<ConfirmationOutcome, 'accepted'>;
  readonly errorCode: string;
  readonly text: (tool: string) => string;
}

const unconfirmed = {
  invalid: {
    outcome: 'refused',
    errorCode: 'confirmation.invalid_state',
    text: (tool) =>
      `The confirmation state sent with this call of "${tool}" is not valid here (altered, expired, already used, or ` +
      'made for another caller): the call was not made, nothing was sent. Call the tool again without requestState ' +
      'to ask the person.',
  },
  decline: {
    outcome: 'declined',
    errorCode: 'confirmation.declined',
    text: (tool) => `The person declined this call of "${tool}": it was not made, nothing was sent.`,
  },
  cancel: {
    outcome: 'cancelled',
    errorCode: 'confirmation.cancelled',
    text: (tool) =>
      `The confirmation of this call of "${tool}" was cancelled (or not answered in time): the call was not made, ` +
      'nothing was sent.',
  },
  unavailable: {
    outcome: 'refused',
    errorCode: 'confirmation.unavailable',
    text: (tool) =>
      `Tool "${tool}" needs a person's confirmation before each call, and this client cannot ask its user: it did ` +
      'not declare the MCP elicitation capability (form mode). Use a client that can ask its user, or ask an ' +
      'administrator of this MCP server to lift the confirmation of this tool. Nothing was sent.',
  },
} as const satisfies Record<string, Unconfirmed>;

async function confirmCall(s: CallState): Promise<Verdict> {
  const { deps, call, tool } = s;
  const name = tool.def.name;
  const prompt = confirmationPrompt(call.loaded, tool, call.arguments);
  let asked: Confirmation;
  try {
    asked = call.confirmation ? await call.confirmation(prompt) : { kind: 'unavailable' };
  } catch (err) {
    deps.log.warn({ tool: name, err: String(err) }, 'a confirmation could not be asked');
    const result = errorResult(`The person could not be asked to confirm this call of "${name}": nothing was sent.`);
    return refuse(s, { errorCode: 'confirmation.failed', message: 'the person could not be asked', result });
  }
  // The question itself is the call's answer for now: nothing ran, nothing is marked.
  if (asked.kind === 'ask') return { refused: asked.result };
  if (asked.kind === 'answered' && asked.action === 'accept')
    deps.audit?.add(confirmationEvent(callEvents(call, name), { outcome: 'accepted' }, prompt.masked));
  if (asked.kind === 'continued' || (asked.kind === 'answered' && asked.action === 'accept'))
    return { settle: { finish: (outcome: ToolOutcome) => confirmedResult(call, outcome, confirmSealing(deps)) } };
  const not: Unconfirmed =
    asked.kind === 'invalid'
      ? unconfirmed.invalid
      : asked.kind !== 'answered'
        ? unconfirmed.unavailable
        : asked.action === 'decline'
          ? unconfirmed.decline
          : unconfirmed.cancel;
  const invalidState = asked.kind === 'invalid' ? asked.reason : undefined;
  deps.audit?.add(confirmationEvent(callEvents(call, name), { outcome: not.outcome, invalidState }, prompt.masked));
  return refuse(s, { errorCode: not.errorCode, message: not.text(name) });
}
