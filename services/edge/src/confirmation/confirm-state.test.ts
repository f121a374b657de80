import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { ServerContext } from '@modelcontextprotocol/server';
import { modernConfirmation } from './confirmation-askers.ts';
import { callerBinding, ConfirmStates } from './confirm-state.ts';
import { CONFIRM_INPUT_KEY, type ConfirmationPrompt } from './confirmation.ts';

// The 2026-07-28 confirmation state (ADR 0038): sealed by the edge, bound to the call and the caller, single use. Every
// state a client could make up or carry over is refused or asks again; the e2e test (tests/e2e/governance/confirmation.test.ts)
// checks the same attacks against the real stack, with what reached the upstream.

const KEY = Buffer.alloc(32, 1);

function keeper(key = KEY) {
  const spent = new Set<string>();
  return new ConfirmStates({ get: () => Promise.resolve(key) }, (nonce) => {
    if (spent.has(nonce)) return Promise.resolve(false);
    spent.add(nonce);
    return Promise.resolve(true);
  });
}

const prompt = (digest: string): ConfirmationPrompt => ({ message: 'Allow?', masked: {}, digest });
const ALICE = callerBinding('key-alice', undefined);

/** A 2026-07-28 request's context as the asker reads it. */
function ctx(requestState: unknown, answer?: string): ServerContext {
  return {
    mcpReq: {
      requestState: () => requestState,
      inputResponses: answer ? { [CONFIRM_INPUT_KEY]: { action: answer, content: {} } } : undefined,
    },
  } as unknown as ServerContext;
}

const envelope = { 'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } } };

function asker(states: ConfirmStates, requestState: unknown, answer?: string, caller = ALICE) {
  return modernConfirmation({
    ctx: ctx(requestState, answer),
    envelope,
    sealing: { states, ttlMs: 60_000 },
    caller,
  });
}

/** The state a first round gives (the person is asked). */
async function askedState(states: ConfirmStates, digest: string, caller = ALICE): Promise<string> {
  const first = await asker(states, undefined, undefined, caller)(prompt(digest));
  if (first.kind !== 'ask') throw new Error(`expected ask, got ${first.kind}`);
  return first.result.requestState as string;
}

describe('ConfirmStates', () => {
  it('opens what it sealed; a changed body or MAC, another key, a bare digest are refused', async () => {
    const states = keeper();
    const sealed = await states.seal({ stage: 'asked', digest: 'd', caller: ALICE, expiresAt: Date.now() + 1000 });
    expect(await states.open(sealed)).toMatchObject({ ok: true, claims: { stage: 'asked', digest: 'd' } });
    const [head, body, mac] = [
      sealed.slice(0, 11),
      sealed.slice(11, sealed.lastIndexOf('.')),
      sealed.split('.').at(-1)!,
    ];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const changed = Buffer.from(JSON.stringify({ ...claims, s: 'ok' })).toString('base64url');
    expect(await states.open(`${head}${changed}.${mac}`)).toEqual({ ok: false, reason: 'forged' });
    expect(await states.open(`${head}${body}.${mac.slice(1)}A`)).toEqual({ ok: false, reason: 'forged' });
    expect(await keeper(Buffer.alloc(32, 2)).open(sealed)).toEqual({ ok: false, reason: 'forged' });
    expect(await states.open('tp-confirm.ok.abc.')).toEqual({ ok: false, reason: 'malformed' });
    expect(await states.open('tp-confirm.asked.abc')).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses a state past its time', async () => {
    const states = keeper();
    const sealed = await states.seal({ stage: 'asked', digest: 'd', caller: ALICE, expiresAt: 5_000 });
    expect(await states.open(sealed, 4_999)).toMatchObject({ ok: true });
    expect(await states.open(sealed, 5_000)).toEqual({ ok: false, reason: 'expired' });
  });
});

describe('modernConfirmation: what a client may carry back', () => {
  it('the answer to a question the edge asked counts, once', async () => {
    const states = keeper();
    const state = await askedState(states, 'd1');
    expect(await asker(states, state, 'accept')(prompt('d1'))).toEqual({ kind: 'answered', action: 'accept' });
    expect(await asker(states, state, 'accept')(prompt('d1'))).toEqual({ kind: 'invalid', reason: 'replayed' });
  });

  it('the review’s forged states (a bare digest, an asked state made up, with accept) are refused', async () => {
    const states = keeper();
    const digest = createHash('sha256').update('["s1","delete_order",{}]').digest('base64url');
    for (const forged of [`tp-confirm.ok.${digest}.`, `tp-confirm.asked.${digest}`])
      expect(await asker(states, forged, 'accept')(prompt(digest))).toEqual({ kind: 'invalid', reason: 'malformed' });
    const otherKey = await askedState(keeper(Buffer.alloc(32, 9)), digest);
    expect(await asker(states, otherKey, 'accept')(prompt(digest))).toEqual({ kind: 'invalid', reason: 'forged' });
  });

  it('another caller’s state is refused; a state for other arguments, tool or server asks again', async () => {
    const states = keeper();
    const bobs = await askedState(states, 'd1', callerBinding('key-bob', undefined));
    expect(await asker(states, bobs, 'accept')(prompt('d1'))).toEqual({ kind: 'invalid', reason: 'caller' });
    const actingForCarol = await askedState(states, 'd1', callerBinding('key-alice', 'carol'));
    expect(await asker(states, actingForCarol, 'accept')(prompt('d1'))).toEqual({ kind: 'invalid', reason: 'caller' });
    const forD1 = await askedState(states, 'd1');
    const again = await asker(states, forD1, 'accept')(prompt('d2'));
    expect(again.kind).toBe('ask');
    // Asking again did not spend the state of the question it was not the answer to.
    expect(await asker(states, forD1, 'accept')(prompt('d1'))).toEqual({ kind: 'answered', action: 'accept' });
  });

  it('an ok state continues an accepted call once; an asked state without an answer asks again', async () => {
    const states = keeper();
    const ok = await states.seal({ stage: 'ok', digest: 'd1', caller: ALICE, expiresAt: Date.now() + 60_000 });
    expect(await asker(states, ok)(prompt('d1'))).toEqual({ kind: 'continued' });
    expect(await asker(states, ok)(prompt('d1'))).toEqual({ kind: 'invalid', reason: 'replayed' });
    const asked = await askedState(states, 'd1');
    expect((await asker(states, asked)(prompt('d1'))).kind).toBe('ask');
  });

  it('without the deployment’s states the call cannot be confirmed', async () => {
    const unsealed = modernConfirmation({ ctx: ctx(undefined), envelope, sealing: undefined, caller: ALICE });
    expect(await unsealed(prompt('d1'))).toEqual({ kind: 'unavailable' });
  });
});
