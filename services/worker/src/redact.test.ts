import { describe, expect, it } from '@jest/globals';
import { redactSecrets } from './redact.ts';

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

  it('leaves results untouched when there is nothing to hide', () => {
    const r = { content: [{ type: 'text', text: 'ok' }] };
    expect(redactSecrets(r, [undefined, 'ab'])).toBe(r);
  });
});
