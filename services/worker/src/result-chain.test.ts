import { describe, expect, it } from '@jest/globals';
import type { ExecutionRecord, GuardrailRule, ToolInvokeJob, ToolResultPayload } from '@toolplane/contracts';
import { compileGuardrails } from '@toolplane/guardrails';
import type { Redis } from 'ioredis';
import { DebugSessions } from './debug-sessions.ts';
import { debugScrubber, type GuardrailDeps } from './guardrails.ts';
import { relayedEvents, resultChain, type ChainRecord, type RunOutcome } from './result-chain.ts';

/** A Visa test number (Luhn-valid), a credential of the call, an e-mail: what must not reach a model. */
const card = '4111111111111111';
const credential = 'tok-live-8f7e6d5c4b3a';
const email = 'jane.doe@example.com';

/** The same text with every character written as a JSON `\uXXXX` escape (a spelling an upstream may choose). */
const escaped = (text: string) => [...text].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');

const rule = (action: GuardrailRule['action'], extra: Partial<GuardrailRule> = {}): GuardrailRule => ({
  id: action,
  name: `all-${action}`,
  detectors: [{ kind: 'secrets' }, { kind: 'pii' }],
  action,
  enforce: true,
  ...extra,
});

const job = { invocationId: 'i1', serverId: 's1', catalogVersion: 1, tool: 'get_account' } as ToolInvokeJob;

function chainOf(rules: GuardrailRule[]) {
  const guardrails = compileGuardrails(rules);
  const deps: GuardrailDeps = {
    plans: { guardrails: () => guardrails },
    maxScanBytes: 1 << 20,
    log: { info: () => {} },
  };
  const records: { outcome: ExecutionRecord['outcome']; extra: ChainRecord }[] = [];
  const call = {
    job,
    record: (outcome: ExecutionRecord['outcome'], extra: ChainRecord) => records.push({ outcome, extra }),
  };
  return { deps, records, call, guardrails };
}

const ran = (result: ToolResultPayload, extra: Partial<RunOutcome> = {}): RunOutcome => ({
  result,
  secretValues: [credential],
  ok: true,
  ...extra,
});

/** Every string the model could read of a result, its JSON texts decoded. */
const readable = (result: ToolResultPayload) =>
  JSON.stringify(result) +
  result.content.map((b) => (typeof b.text === 'string' && b.text.startsWith('{') ? JSON.parse(b.text) : '')).join();

describe('the result chain', () => {
  it('scans a JSON text as its decoded value and sends it written again from what was scanned (#73, 6)', async () => {
    const { deps, call, records } = chainOf([rule('redact')]);
    const text = `{"token":"${escaped(credential)}","card":"${escaped(card)}","contact":"${escaped(email)}","id":7}`;
    const result = await resultChain(
      deps,
      call,
      ran({ content: [{ type: 'text', text }], structuredContent: JSON.parse(text) as Record<string, unknown> }),
      undefined,
    );
    const decoded = JSON.parse(result.content[0]!.text as string) as Record<string, unknown>;
    expect(decoded).toEqual({
      token: '[redacted:secrets:own]',
      card: '[redacted:pii:card]',
      contact: '[redacted:pii:email]',
      id: 7,
    });
    expect(result.structuredContent).toEqual(decoded);
    for (const v of [credential, card, email]) expect(readable(result)).not.toContain(v);
    expect(records[0]!.extra.guardrails).toContainEqual({
      guardrail: 'all-redact',
      detector: 'pii:card',
      path: '$.content[0].text.card',
      action: 'redact',
    });
  });

  it('a JSON text nothing is found in is sent as it came, byte for byte', async () => {
    const { deps, call } = chainOf([rule('redact')]);
    const text = '{ "id": 7,\n  "title": "caf\\u00e9" }';
    const result = await resultChain(deps, call, ran({ content: [{ type: 'text', text }] }), undefined);
    expect(result.content[0]!.text).toBe(text);
  });

  it('shapes first and scans what leaves: a projection joining two halves into a card number (#73, 8)', async () => {
    const { deps, call, records } = chainOf([rule('block', { detectors: [{ kind: 'pii', types: ['card'] }] })]);
    const structured = { left: card.slice(0, 8), right: card.slice(8), id: 'A-1' };
    const result = await resultChain(
      deps,
      call,
      ran({ content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured }),
      { projection: "{id: id, number: join('', [left, right])}" },
    );
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result)).not.toContain(card);
    expect(records).toMatchObject([
      {
        outcome: 'tool_error',
        extra: { errorCode: 'guardrail.blocked', shape: { bytesBefore: expect.any(Number) } },
      },
    ]);
  });

  it("scans the result's _meta; a block keeps nothing of it (#73, 10)", async () => {
    const redact = chainOf([rule('redact')]);
    const meta = { 'vendor/trace': { contact: email, note: `card ${card}` } };
    const redacted = await resultChain(
      redact.deps,
      redact.call,
      ran({ content: [{ type: 'text', text: 'done' }], _meta: meta }),
      undefined,
    );
    expect(redacted._meta?.['vendor/trace']).toEqual({
      contact: '[redacted:pii:email]',
      note: 'card [redacted:pii:card]',
    });
    const block = chainOf([rule('block')]);
    const blocked = await resultChain(
      block.deps,
      block.call,
      ran({ content: [{ type: 'text', text: 'done' }], _meta: meta }),
      undefined,
    );
    expect(blocked.isError).toBe(true);
    expect(JSON.stringify(blocked)).not.toMatch(/jane|4111|card /);
  });

  it("relays an external server's progress and log notifications guarded and redacted (#73, 10)", () => {
    const { guardrails } = chainOf([rule('redact'), rule('block', { detectors: [{ kind: 'pii', types: ['iban'] }] })]);
    const found: NonNullable<RunOutcome['relayed']> = [];
    const pass = relayedEvents({ maxScanBytes: 1 << 20 }, guardrails, [credential], found);
    expect(pass({ kind: 'progress', progress: 1, total: 2, message: `charging ${card}` })).toEqual({
      kind: 'progress',
      progress: 1,
      total: 2,
      message: 'charging [redacted:pii:card]',
    });
    expect(pass({ kind: 'log', level: 'info', data: { sent: credential, to: email } })).toEqual({
      kind: 'log',
      level: 'info',
      data: { sent: '[redacted:secrets:own]', to: '[redacted:pii:email]' },
    });
    expect(pass({ kind: 'log', level: 'info', data: 'iban DE89370400440532013000' })).toBeUndefined();
    expect(found.map((f) => f.path)).toEqual([
      'notifications/progress:$.message',
      'notifications/message:$.data.sent',
      'notifications/message:$.data.to',
      'notifications/message:$.data', // the IBAN: found by both guardrails, the block's drops the message
      'notifications/message:$.data',
    ]);
    // No guardrail: the call's credentials are redacted all the same.
    const bare = relayedEvents({ maxScanBytes: 1 << 20 }, [], [credential], []);
    expect(bare({ kind: 'log', level: 'debug', data: `auth ${credential}` })).toEqual({
      kind: 'log',
      level: 'debug',
      data: 'auth [redacted]',
    });
  });

  it("keeps no credential in clear in the record's debug capture once a guardrail rewrote its body (#73, 5)", async () => {
    const { deps, call, records, guardrails } = chainOf([rule('flag', { enforce: false })]);
    const sessions = new DebugSessions(undefined as unknown as Redis, 'p', { maxBodyBytes: 1 << 16 });
    const body = `{"echo":"${escaped(credential)}","contact":"${email}"}`;
    const capture = sessions.exchange(
      { method: 'GET', url: 'http://x/y', headers: {} },
      { kind: 'response', status: 200, contentType: 'application/json', body: new TextEncoder().encode(body) },
      [credential],
      debugScrubber(guardrails),
    );
    await resultChain(
      deps,
      call,
      ran(
        { content: [{ type: 'text', text: body }], structuredContent: JSON.parse(body) as Record<string, unknown> },
        { debug: { sessionId: 's', ...capture } },
      ),
      undefined,
    );
    const debug = records[0]!.extra.debug!;
    const kept = JSON.stringify(debug);
    expect(kept).not.toContain(credential);
    expect(kept).not.toContain(email);
    expect(JSON.parse(debug.response!.body!)).toEqual({ echo: '[redacted]', contact: '[redacted:pii:email]' });
  });
});
