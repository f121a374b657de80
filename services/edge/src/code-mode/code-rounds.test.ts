import { describe, expect, it } from '@jest/globals';
import { ConfirmStates } from '../confirmation/confirm-state.ts';
import { openCodeState, ProgramReplay, REPLAY_MAX_CHARS } from './code-rounds.ts';

// A 2026-07-28 program's rounds (ADR 0068): the state is sealed (encrypted, authenticated, single use, bound to the
// program and the caller); a round answers the calls made before from it and stops a program that calls otherwise.

function sealing() {
  const spent = new Set<string>();
  const states = new ConfirmStates({ get: () => Promise.resolve(Buffer.alloc(32, 7)) }, (nonce) => {
    if (spent.has(nonce)) return Promise.resolve(false);
    spent.add(nonce);
    return Promise.resolve(true);
  });
  return { states, ttlMs: 60_000 };
}

const bound = { program: 'p1', caller: 'alice' };
const asking = { index: 1, tool: 'create', args: 'd-create', result: { content: [], requestState: 'inner' } };

/** A first round: `list` made, `create` asked; its state. */
async function firstRound(s: ReturnType<typeof sealing>, listResult = '[1,2]'): Promise<string | undefined> {
  const round = new ProgramReplay();
  const step = round.begin('list', 'd-list');
  expect(step).toEqual({ kind: 'run', index: 0 });
  round.record(0, 'list', 'd-list', { json: listResult });
  expect(round.begin('create', 'd-create')).toEqual({ kind: 'run', index: 1 });
  round.ask(asking);
  // Nothing more runs in a round that asked.
  expect(round.begin('other', 'x').kind).toBe('stop');
  return (await round.result(s, bound))?.requestState;
}

describe('a program’s rounds', () => {
  it('replays the calls made, gives the asked call its state, and runs new calls', async () => {
    const s = sealing();
    const state = (await firstRound(s))!;
    expect(state).not.toContain('[1,2]');
    const opened = await openCodeState(s, state, bound);
    if (!('replay' in opened)) throw new Error('refused');
    const round = opened.replay;
    expect(round.begin('list', 'd-list')).toEqual({ kind: 'replayed', outcome: { json: '[1,2]' } });
    expect(round.begin('create', 'd-create')).toEqual({ kind: 'run', index: 1, answers: { requestState: 'inner' } });
    expect(round.begin('after', 'd-after')).toEqual({ kind: 'run', index: 2 });
  });

  it('stops a program that makes another call where one was made, and calls nothing after', async () => {
    const s = sealing();
    const opened = await openCodeState(s, (await firstRound(s))!, bound);
    if (!('replay' in opened)) throw new Error('refused');
    const step = opened.replay.begin('list', 'other-arguments');
    expect(step.kind).toBe('stop');
    expect((step as { message: string }).message).toContain('not the same when run again');
    expect(opened.replay.begin('list', 'd-list').kind).toBe('stop');
  });

  it('refuses a state used before, altered, for another program or caller', async () => {
    const s = sealing();
    const state = (await firstRound(s))!;
    expect(await openCodeState(s, state, { ...bound, program: 'p2' })).toEqual({ refused: 'other' });
    expect(await openCodeState(s, state, { ...bound, caller: 'bob' })).toEqual({ refused: 'other' });
    const parts = state.split('.');
    const altered = [
      ...parts.slice(0, 2),
      `${parts[2]!.startsWith('A') ? 'B' : 'A'}${parts[2]!.slice(1)}`,
      parts[3],
    ].join('.');
    expect(await openCodeState(s, altered, bound)).toEqual({ refused: 'invalid' });
    expect('replay' in (await openCodeState(s, state, bound))).toBe(true);
    expect(await openCodeState(s, state, bound)).toEqual({ refused: 'replayed' });
    // Sealed under another deployment's key: not ours.
    expect(await openCodeState(sealing(), state.replace(/^tp-code/, 'tp-confirm'), bound)).toEqual({
      refused: 'invalid',
    });
  });

  it('carries no more than REPLAY_MAX_CHARS of results', async () => {
    expect(await firstRound(sealing(), JSON.stringify('x'.repeat(REPLAY_MAX_CHARS)))).toBeUndefined();
  });
});
