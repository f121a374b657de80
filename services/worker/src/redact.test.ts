import { describe, expect, it } from '@jest/globals';
import { redactSecrets, redactText, sentSecretForms } from './redact.ts';

describe('redactSecrets', () => {
  const secret = 's3cr3t-Value/+=';
  it('removes secret values from text, structured content and keys, in plain, base64 and URL-encoded forms', () => {
    const b64 = Buffer.from(secret).toString('base64');
    const result = redactSecrets(
      {
        content: [
          { type: 'text', text: `echo: ${secret}; auth: Basic ${b64}; url: /x?k=${encodeURIComponent(secret)}` },
        ],
        structuredContent: { headers: { 'x-api-key': secret }, [secret]: 1, nested: [{ v: `pre${secret}post` }] },
      },
      [secret],
    );
    const text = JSON.stringify(result);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(b64.replace(/=+$/, ''));
    expect(text).not.toContain(encodeURIComponent(secret));
    expect(result.structuredContent).toEqual({
      headers: { 'x-api-key': '[redacted]' },
      '[redacted]': 1,
      nested: [{ v: 'pre[redacted]post' }],
    });
  });

  it('finds a query credential in every percent-encoding in use, in either hex case (issue #27, 1)', () => {
    const key = 'Passw0rd!2026';
    for (const sent of [
      `/e?k=Passw0rd%212026`, // URLSearchParams, strict RFC 3986
      `/e?k=Passw0rd%212026`.toLowerCase().replace('passw0rd', 'Passw0rd'),
      `/e?k=${encodeURIComponent(key)}`,
      `{"url":"/e?k=Passw0rd%212026"}`,
    ])
      expect(redactText(sent, [key])).not.toMatch(/Passw0rd|%21/i);
    const tricky = "it's (a) ~secret* + more";
    for (const sent of [
      'it%27s%20%28a%29%20~secret%2A%20%2B%20more', // strict RFC 3986
      'it%27s%20%28a%29%20%7Esecret%2A%20%2B%20more', // all but alphanumerics and -._
      "it's%20(a)%20~secret*%20%2B%20more", // encodeURIComponent
      'it%27s+%28a%29+%7Esecret*+%2B+more', // form
      'it%27s%20%28a%29%20%7esecret*%20%2b%20more', // lower-case hex
      JSON.stringify({ k: tricky }),
      Buffer.from(tricky).toString('base64url'),
    ])
      expect(redactText(sent, [tricky])).not.toMatch(/secret/);
  });

  it('finds JSON-escaped values, once and twice, and non-ASCII ones escaped as \\uXXXX', () => {
    const secret = 'qu"ote\\back/slash-é🙂';
    const once = JSON.stringify({ k: secret });
    const twice = JSON.stringify({ body: once });
    const ascii = once.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    const asciiUpper = ascii.replace(/\\u[0-9a-f]{4}/g, (e) => `\\u${e.slice(2).toUpperCase()}`);
    for (const text of [once, twice, ascii, asciiUpper])
      expect(redactText(text, [secret])).toBe(
        text.startsWith('{"body"') ? '{"body":"{\\"k\\":\\"[redacted]\\"}"}' : '{"k":"[redacted]"}',
      );
  });

  it('finds a secret inside longer base64 (Basic user:secret), and the credentials of an Authorization value', () => {
    const basic = `Basic ${Buffer.from('someone:Passw0rd!2026').toString('base64')}`;
    const echoed = `you sent ${basic.slice(6)} (${Buffer.from('x:Passw0rd!2026:y').toString('base64')})`;
    const out = redactText(echoed, ['Passw0rd!2026', basic]);
    expect(out).not.toContain(basic.slice(6));
    expect(out).toMatch(/^you sent \[redacted\] \(/);
    expect(
      Buffer.from(out.slice(out.indexOf('(') + 1, -1).replace('[redacted]', ''), 'base64').toString(),
    ).not.toContain('Passw0rd');
  });

  it('reads the forms a request carried from its bytes: a secret split by the URL serialiser, a Basic token', () => {
    const secret = 'a b?c d#e';
    // Raw text in a workflow URL: the path, the query and the fragment encode it differently.
    const url = new URL(`http://h/p/${secret}`).toString();
    expect(url).toBe('http://h/p/a%20b?c%20d#e');
    const basic = `Basic ${Buffer.from(`u:${secret}`).toString('base64')}`;
    const forms = sentSecretForms({ url, headers: { authorization: basic, 'x-other': 'plain' } }, [secret]);
    expect(forms).toEqual(expect.arrayContaining(['a%20b?c%20d#e', basic.slice(6)]));
    expect(redactText(`${url} ${basic}`, [secret, ...forms])).toBe('http://h/p/[redacted] Basic [redacted]');
  });

  it('finds what an upstream echoes HTML-escaped, as numeric entities, upper-cased, double percent-encoded, nested three levels of JSON', () => {
    const key = "sk_live_Ab1<Cd>&'x";
    const entities = (radix: 10 | 16) =>
      [...key].map((c) => `&#${radix === 16 ? 'x' : ''}${c.codePointAt(0)!.toString(radix)};`).join('');
    const html = key.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&#39;');
    const three = JSON.stringify(JSON.stringify(JSON.stringify({ key })));
    for (const echoed of [
      `<p>Invalid API key: <code>${html}</code></p>`,
      `<p>Invalid API key: ${entities(10)}</p>`,
      `<p>Invalid API key: ${entities(16)}</p>`,
      `<p>Invalid API key: ${entities(16).toUpperCase().replace(/&#X/g, '&#x')}</p>`,
      `INVALID KEY ${key.toUpperCase()}`,
      `invalid key ${key.toLowerCase()}`,
      `/login?next=${encodeURIComponent(`/x?k=${encodeURIComponent(key)}`)}`,
      `{"error":${three}}`,
    ]) {
      const out = redactText(echoed, [key]);
      expect(out).toContain('[redacted]');
      expect(out.toLowerCase()).not.toMatch(/ab1|&#115;|&#x73;|%2573k/);
    }
  });

  it('decodes a JSON text whose escapes spell a secret no form lists, and a secret of digits sent back as a number', () => {
    const token = 'tok-9f8e7d6c';
    const spelled = [...token].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    const body = `{"echo":"${spelled}","card":"fine"}`;
    expect(redactText(body, [token])).toBe('{"echo":"[redacted]","card":"fine"}');
    const nested = JSON.stringify({ inner: body });
    expect(redactText(nested, [token])).toBe(JSON.stringify({ inner: '{"echo":"[redacted]","card":"fine"}' }));
    const result = redactSecrets(
      { content: [{ type: 'text', text: body }], structuredContent: { pin: 73918264, other: 5 } },
      [token, '73918264'],
    );
    expect(result).toEqual({
      content: [{ type: 'text', text: '{"echo":"[redacted]","card":"fine"}' }],
      structuredContent: { pin: '[redacted]', other: 5 },
    });
  });

  it('leaves values shorter than 4 characters alone', () => {
    expect(redactText('abc %61bc', ['abc'])).toBe('abc %61bc');
  });

  it('leaves results untouched when there is nothing to hide', () => {
    const r = { content: [{ type: 'text', text: 'ok' }] };
    expect(redactSecrets(r, [undefined, 'ab'])).toBe(r);
  });

  it('copies only what it redacts: a clean result is returned as it is, a dirty one leaves its input unchanged', () => {
    const clean = {
      content: [{ type: 'text', text: 'no credential here' }],
      structuredContent: { items: [{ id: 1, tags: ['a', 'b'] }], meta: null },
    };
    expect(redactSecrets(clean, [secret])).toBe(clean);

    const untouched = { id: 1, tags: ['a', 'b'] };
    const dirty = {
      content: [{ type: 'text', text: 'no credential here' }],
      structuredContent: JSON.parse(
        `{"items":[${JSON.stringify(untouched)},{"key":"${secret}","${secret}":2}],"__proto__":{"x":1}}`,
      ) as Record<string, unknown>,
    };
    const before = JSON.stringify(dirty);
    const result = redactSecrets(dirty, [secret]);
    expect(JSON.stringify(dirty)).toBe(before);
    expect(result.content).toBe(dirty.content);
    const items = result.structuredContent!.items as unknown[];
    expect(items[0]).toBe((dirty.structuredContent.items as unknown[])[0]);
    expect(items[1]).toEqual({ key: '[redacted]', '[redacted]': 2 });
    // An own `__proto__` key stays a key of the copy (not its prototype).
    expect(Object.keys(result.structuredContent!)).toEqual(['items', '__proto__']);
    expect(Object.getPrototypeOf(result.structuredContent)).toBe(Object.prototype);
  });
});
