import { describe, expect, it } from '@jest/globals';
import { AuditEventInput, type Catalog } from '@toolplane/contracts';
import type { LoadedCatalog, LoadedTool } from '../state/catalogs.ts';
import { ConfirmStates } from './confirm-state.ts';
import {
  argumentsDigest,
  askResult,
  callNeedsConfirmation,
  CONFIRM_INPUT_KEY,
  confirmedResult,
  confirmationPrompt,
  credentialLikeName,
  maskArguments,
  MASKED,
  principalBinding,
  upstreamInputResponses,
  upstreamRequestState,
} from './confirmation.ts';
import { auditActor, confirmationEvent, printable } from '@toolplane/access';
import { callEvents } from '../calls/call-audit.ts';

const SECRET = 'sk-live-5f1c9a';

describe('maskArguments: secret values never shown nor recorded', () => {
  it('masks what the schema marks: writeOnly, format password, x-secret, x-sensitive', () => {
    const schema = {
      type: 'object',
      properties: {
        id: { type: 'string' },
        pin: { type: 'string', writeOnly: true },
        pass: { type: 'string', format: 'password' },
        vault: { type: 'string', 'x-secret': true },
        note: { type: 'string', 'x-sensitive': true },
      },
    };
    expect(maskArguments({ id: '42', pin: SECRET, pass: SECRET, vault: SECRET, note: SECRET }, schema)).toEqual({
      id: '42',
      pin: MASKED,
      pass: MASKED,
      vault: MASKED,
      note: MASKED,
    });
  });

  it('masks credential-like names whatever the schema says (or without one), and only those', () => {
    const masked = maskArguments(
      {
        api_key: SECRET,
        clientSecret: SECRET,
        'X-Auth-Token': SECRET,
        password: SECRET,
        credentials: { user: 'a', pass: SECRET },
        authorization: `Bearer ${SECRET}`,
        sort_key: 'created',
        author: 'ann',
        tokenizer: 'bpe',
        amount: 12,
      },
      { type: 'object' },
    );
    expect(masked).toEqual({
      api_key: MASKED,
      clientSecret: MASKED,
      'X-Auth-Token': MASKED,
      password: MASKED,
      credentials: MASKED,
      authorization: MASKED,
      sort_key: 'created',
      author: 'ann',
      tokenizer: 'bpe',
      amount: 12,
    });
    expect(JSON.stringify(masked)).not.toContain(SECRET);
  });

  it('follows nested objects, arrays, additionalProperties, $ref and allOf / anyOf / oneOf', () => {
    const schema = {
      type: 'object',
      $defs: { Secret: { type: 'string', writeOnly: true } },
      properties: {
        account: {
          type: 'object',
          properties: { login: { type: 'string' }, word: { $ref: '#/$defs/Secret' } },
        },
        items: { type: 'array', items: { type: 'object', properties: { code: { format: 'password' } } } },
        tuple: { type: 'array', prefixItems: [{ type: 'string' }, { writeOnly: true }] },
        labels: { type: 'object', additionalProperties: { 'x-secret': true } },
        either: { anyOf: [{ type: 'number' }, { type: 'string', writeOnly: true }] },
        both: { allOf: [{ type: 'string' }, { $ref: '#/$defs/Secret' }] },
      },
    };
    const masked = maskArguments(
      {
        account: { login: 'ann', word: SECRET },
        items: [{ code: SECRET, n: 1 }, { n: 2 }],
        tuple: ['shown', SECRET],
        labels: { a: SECRET },
        either: SECRET,
        both: SECRET,
      },
      schema,
    );
    expect(masked).toEqual({
      account: { login: 'ann', word: MASKED },
      items: [{ code: MASKED, n: 1 }, { n: 2 }],
      tuple: ['shown', MASKED],
      labels: { a: MASKED },
      either: MASKED,
      both: MASKED,
    });
  });

  it('credentialLikeName: a word naming a secret; "key" only after api, private, access, secret, signing, client', () => {
    for (const name of ['apiKey', 'API-KEY', 'private_key', 'accessKey', 'refresh_token', 'db_password', 'otp'])
      expect(credentialLikeName(name)).toBe(true);
    for (const name of ['key', 'sortKey', 'idempotency_key', 'authorName', 'tokenizer', 'spinner', 'id'])
      expect(credentialLikeName(name)).toBe(false);
  });
});

const catalog = (mode: 'NORMAL' | 'SMART' = 'NORMAL'): LoadedCatalog => {
  const tool = (name: string, confirm?: true): [string, LoadedTool] => [
    name,
    {
      def: {
        name,
        title: 'Delete an order',
        description: 'Deletes the order for good.\nSecond line.',
        inputSchema: { type: 'object', properties: { token: { type: 'string' } } },
      },
      validate: (() => true) as unknown as LoadedTool['validate'],
      rules: confirm ? { confirm } : {},
    },
  ];
  return {
    catalog: { serverId: 's1', workspaceId: '0b0c3a4e-1a1b-4c2d-8e3f-000000000001', name: 'orders', mode } as Catalog,
    tools: new Map([tool('delete_order', true), tool('get_order')]),
    meta: new Map(),
    list: [],
  };
};

describe('confirmationPrompt: what the person is asked', () => {
  const loaded = catalog();
  const tool = loaded.tools.get('delete_order')!;

  it('names the tool, its server and what it does, with the arguments, secrets masked', () => {
    const prompt = confirmationPrompt(loaded, tool, { id: '42', token: SECRET });
    expect(prompt.message).toContain('"delete_order" (Delete an order) on MCP server "orders"');
    expect(prompt.message).toContain('What it does: Deletes the order for good.');
    expect(prompt.message).not.toContain('Second line');
    expect(prompt.message).toContain('"id": "42"');
    expect(prompt.message).toContain(`"token": "${MASKED}"`);
    expect(prompt.message).not.toContain(SECRET);
    expect(prompt.masked).toEqual({ id: '42', token: MASKED });
  });

  it('binds to the server, the tool and the exact arguments (not their order)', () => {
    const a = confirmationPrompt(loaded, tool, { id: '42', n: { x: 1, y: 2 } }).digest;
    expect(confirmationPrompt(loaded, tool, { n: { y: 2, x: 1 }, id: '42' }).digest).toBe(a);
    expect(confirmationPrompt(loaded, tool, { id: '43', n: { x: 1, y: 2 } }).digest).not.toBe(a);
    expect(argumentsDigest('s2', 'delete_order', { id: '42', n: { x: 1, y: 2 } })).not.toBe(a);
  });

  it('cuts very long arguments', () => {
    const prompt = confirmationPrompt(loaded, tool, { text: 'x'.repeat(5000) });
    expect(prompt.message.length).toBeLessThan(2600);
    expect(prompt.message).toContain('… (cut)');
  });

  it('2026-07-28: an input_required result with one form elicitation and the asked state', () => {
    const prompt = confirmationPrompt(loaded, tool, { id: '42' });
    expect(askResult(prompt, 'tp-confirm.sealed')).toEqual({
      content: [],
      resultType: 'input_required',
      inputRequests: {
        [CONFIRM_INPUT_KEY]: {
          method: 'elicitation/create',
          params: expect.objectContaining({ mode: 'form', message: prompt.message }) as unknown,
        },
      },
      requestState: 'tp-confirm.sealed',
    });
  });
});

const states = () => {
  const spent = new Set<string>();
  return new ConfirmStates({ get: () => Promise.resolve(Buffer.alloc(32, 7)) }, (nonce) =>
    Promise.resolve(!spent.has(nonce) && spent.add(nonce) !== undefined),
  );
};

describe('what an external MCP server gets of a round', () => {
  it('its own state (inside ours, or as it came) and its own input responses only', async () => {
    const sealed = await states().seal({
      stage: 'ok',
      digest: 'd1',
      caller: 'c',
      expiresAt: Date.now() + 60_000,
      upstream: 'theirs',
    });
    expect(upstreamRequestState(sealed)).toBe('theirs');
    const asked = await states().seal({ stage: 'asked', digest: 'd1', caller: 'c', expiresAt: Date.now() + 60_000 });
    expect(upstreamRequestState(asked)).toBeUndefined();
    expect(upstreamRequestState('theirs')).toBe('theirs');
    expect(upstreamInputResponses({ [CONFIRM_INPUT_KEY]: { action: 'accept' } })).toBeUndefined();
    expect(upstreamInputResponses({ [CONFIRM_INPUT_KEY]: { action: 'accept' }, q: { action: 'accept' } })).toEqual({
      q: { action: 'accept' },
    });
    expect(upstreamInputResponses(undefined)).toBeUndefined();
  });
});

describe('confirmedResult: an accepted call whose external MCP tool asks for input of its own (2026-07-28)', () => {
  const loaded = catalog();
  const principal = { workspaceId: 'w1', keyId: 'k1' };
  const accepted = { loaded, principal, name: 'delete_order', arguments: { id: '42' } };
  const digest = argumentsDigest('s1', 'delete_order', { id: '42' });

  it('carries the upstream state inside an ok state bound to the arguments and the caller; other results stay', async () => {
    const sealing = { states: states(), ttlMs: 60_000 };
    const asking = { content: [], resultType: 'input_required' as const, requestState: 'theirs' };
    const result = (await confirmedResult({ ...accepted, multiRound: {} }, asking, sealing)) as typeof asking;
    const opened = await sealing.states.open(result.requestState);
    expect(opened).toEqual({
      ok: true,
      claims: expect.objectContaining({ stage: 'ok', digest, caller: principalBinding(principal), upstream: 'theirs' }),
    });
    const done = { content: [{ type: 'text' as const, text: 'ok' }] };
    expect(await confirmedResult({ ...accepted, multiRound: {} }, done, sealing)).toBe(done);
    expect(await confirmedResult(accepted, asking, sealing)).toBe(asking); // not an external MCP tool of a 2026-07-28 call
  });
});

describe('callNeedsConfirmation', () => {
  it('a tool marked confirm; on a SMART server, the target of execute_tool', () => {
    expect(callNeedsConfirmation(catalog(), 'delete_order', {})).toBe(true);
    expect(callNeedsConfirmation(catalog(), 'get_order', {})).toBe(false);
    expect(callNeedsConfirmation(catalog(), 'nope', {})).toBe(false);
    expect(callNeedsConfirmation(catalog('SMART'), 'execute_tool', { name: 'delete_order' })).toBe(true);
    expect(callNeedsConfirmation(catalog('SMART'), 'execute_tool', { name: 'get_order' })).toBe(false);
    expect(callNeedsConfirmation(catalog('SMART'), 'delete_order', {})).toBe(false);
  });
});

describe('audit events of confirmations', () => {
  it('who decided: the person, else the key, else the OAuth subject; nobody on a public server', () => {
    expect(auditActor({ workspaceId: 'w', keyId: 'k1', userId: 'u1', username: 'ann' })).toEqual({
      type: 'person',
      id: 'u1',
      name: 'ann',
    });
    expect(auditActor({ workspaceId: 'w', keyId: 'k1' })).toEqual({ type: 'api_key', id: 'k1', name: null });
    expect(auditActor({ workspaceId: 'w', subject: 'sub-1' })).toMatchObject({ type: 'oauth_subject', id: 'sub-1' });
    expect(auditActor({ workspaceId: 'w', subject: 'anonymous' })).toMatchObject({ type: 'anonymous', id: null });
  });

  it('is a valid AuditEventInput: the tool as resource, the masked arguments, where the request came from', () => {
    const loaded = catalog();
    const headers: Record<string, string> = { 'user-agent': 'agent/1.0' };
    const event = confirmationEvent(
      callEvents(
        {
          principal: { workspaceId: loaded.catalog.workspaceId, keyId: 'k1' },
          loaded,
          requestId: 7,
          source: { ip: '127.0.0.1', header: (n) => headers[n] },
        },
        'delete_order',
      ),
      { outcome: 'refused' },
      { id: '42', token: MASKED },
    );
    expect(AuditEventInput.parse(event)).toEqual(event);
    expect(event).toMatchObject({
      action: 'tool.confirmation',
      outcome: 'refused',
      resource: { type: 'tool', id: 's1/delete_order' },
      status: null,
      changes: null,
      source: { requestId: '7', clientAddress: '127.0.0.1', userAgent: 'agent/1.0' },
      details: {
        server: 'orders',
        tool: 'delete_order',
        arguments: { id: '42', token: MASKED },
        reason: 'no_elicitation',
      },
    });
  });
});

describe('secret-shaped values under ordinary names (issue #58, 8)', () => {
  // Values a review planted in arguments called note, value or data: each is masked whatever the schema says.
  const planted = [
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
    'Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0',
    'Authorization: Basic dXNlcjpwYXNzd29yZDEyMw==',
    'sk_live_51HxYzAbCdEfGhIjKlMnOpQr',
    'sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345',
    'sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv',
    'ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8',
    'github_pat_11ABCDEFG0123456789_abcdefghijklmnop',
    'glpat-AbCdEfGhIjKlMnOpQrSt',
    'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp',
    'AKIAIOSFODNN7EXAMPLE',
    'AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q',
    '-----BEGIN RSA PRIVATE KEY-----\nMIIEow…',
    'postgres://admin:hunter2hunter2@db.internal:5432/app',
    'the password=Tr0ub4dor&3 is on the sticky note',
    'refresh_token: 1//0gAbCdEfGhIjKlMnOpQrSt',
    'session_id=s%3AaBcDeFgHiJkLmNoP.QrStUvWx',
    'signature=5d41402abc4b2a76b9719d911017c592ff',
    'sid=8f14e45fceea167a5a36dedd4bea2543',
    'dGhpcyBpcyBhIHNlc3Npb24gdG9rZW4gMTIzNDU2Nzg5MA',
    'Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg',
    'a8F3kL9mQ2xR7vT1wZ5nB4cJ6hD0pY',
  ];
  const ordinary = [
    '42',
    'Refund for order 1234, customer asked twice',
    'alice@example.com',
    '3f2b8c1e-9d4a-4e7b-8c2f-1a2b3c4d5e6f',
    'd41d8cd98f00b204e9800998ecf8427e',
    '2026-11-26T22:00:00Z',
    'https://example.com/orders/42?page=2',
    'keep the password policy document up to date',
  ];

  it('masks every planted value, under any name, nested or in arrays; keeps ordinary values', () => {
    const schema = { type: 'object' };
    for (const v of planted) {
      for (const name of ['note', 'value', 'data'])
        expect(maskArguments({ [name]: v }, schema)).toEqual({ [name]: MASKED });
      expect(maskArguments({ data: { items: [v] } }, schema)).toEqual({ data: { items: [MASKED] } });
    }
    for (const v of ordinary) expect(maskArguments({ note: v }, schema)).toEqual({ note: v });
  });
});

describe('the request id an audit event stores', () => {
  it('keeps printable ASCII; escapes control, terminal and bidi characters; bounded', () => {
    expect(printable('req-7', 256)).toBe('req-7');
    expect(printable('a\u001b[31mred\u001b[0m', 256)).toBe('a\\u{1b}[31mred\\u{1b}[0m');
    expect(printable('x\u202Egnp.exe', 256)).toBe('x\\u{202e}gnp.exe');
    expect(printable('a\\b', 256)).toBe('a\\u{5c}b');
    expect(printable('\n'.repeat(1000), 256)).toHaveLength(256);
  });
});
