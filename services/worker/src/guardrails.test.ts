import { describe, expect, it } from '@jest/globals';
import { compileGuardrails } from '@toolplane/guardrails';
import type { Redis } from 'ioredis';
import { DebugSessions } from './debug-sessions.ts';
import { debugScrubber, guardDebug } from './guardrails.ts';

const guardrails = compileGuardrails([
  { id: 'g', name: 'flag-all', detectors: [{ kind: 'secrets' }, { kind: 'pii' }], action: 'flag', enforce: false },
]);
const card = '4111111111111111';

describe('debug captures of a guarded call', () => {
  it('redact what any guardrail finds, in a JSON body as JSON (escapes, keys) and as text', () => {
    const scrub = debugScrubber(guardrails)!;
    const escaped = `{"contact":"jane\\u0040example.com","cards":{"${card}":"x"},"key":"AKIA\\u0041BCDEFGHIJKLMNOP"}`;
    const out = scrub(escaped);
    expect(JSON.parse(out)).toEqual({
      contact: '[redacted:pii:email]',
      cards: { '[redacted:pii:card]': 'x' },
      key: '[redacted:secrets:aws_access_key_id]',
    });
    expect(scrub(`card ${card} {`)).toBe('card [redacted:pii:card] {');
    expect(scrub('{"plain":"nothing here"}')).toBe('{"plain":"nothing here"}');
    expect(debugScrubber([])).toBeUndefined();
  });

  it('scrub before the cap: a value the cap would cut is never kept in part', () => {
    const sessions = new DebugSessions(undefined as unknown as Redis, 'p', { maxBodyBytes: 24 });
    const body = new TextEncoder().encode(`{"padding":"xx","card":"${card}"}`);
    const capture = sessions.exchange(
      { method: 'GET', url: 'http://x/y', headers: {} },
      { kind: 'response', status: 200, contentType: 'application/json', body },
      [],
      debugScrubber(guardrails),
    );
    expect(capture.response).toMatchObject({ truncated: true });
    expect(capture.response!.body).not.toContain(card.slice(0, 6));
  });

  it('of a withheld result keep no response body at all, only what the guardrails find redacted elsewhere', () => {
    const debug = {
      sessionId: 's',
      request: { headers: { 'x-note': `card ${card}` } },
      response: { status: 200, contentType: 'application/json', body: '{"email":"x@example.com"}' },
    };
    const withheld = guardDebug(debug, { guardrails, withheld: true });
    expect(withheld!.response!.body).toBe('[withheld by a guardrail]');
    expect(withheld!.request!.headers).toEqual({ 'x-note': 'card [redacted:pii:card]' });
    expect(guardDebug(debug, { guardrails, withheld: false })!.response!.body).toBe('{"email":"[redacted:pii:email]"}');
  });
});
