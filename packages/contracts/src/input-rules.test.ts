import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { HttpUrl, humanName, isHttpUrl, zodIssues } from './index.ts';

describe('humanName', () => {
  const name = humanName(200);

  it('accepts names in any script, with spaces and punctuation', () => {
    for (const ok of ['ada@example.com', 'Ada Lovelace', 'José Álvarez', '山田 太郎', 'مريم', 'a', 'x'.repeat(200)])
      expect(name.safeParse(ok).success).toBe(true);
  });

  it('refuses C0 controls, DEL, C1 controls and bidirectional overrides and isolates', () => {
    const hostile = [
      'evil\u001b]0;pwned\u0007', // sets the terminal title
      'line\nfake line',
      'tab\there',
      'nul\u0000',
      'del\u007f',
      'csi\u009b2J', // C1 CSI: clears the screen on some terminals
      'bidi \u202eexe.txt', // RIGHT-TO-LEFT OVERRIDE
      '\u202aembedding',
      '\u2066isolate\u2069',
    ];
    for (const bad of hostile) {
      const r = name.safeParse(bad);
      expect({ bad, success: r.success }).toEqual({ bad, success: false });
      expect(r.error!.issues[0]!.message).toMatch(/control characters/);
    }
  });

  it('keeps the length bounds', () => {
    expect(name.safeParse('').success).toBe(false);
    expect(name.safeParse('x'.repeat(201)).success).toBe(false);
  });
});

describe('HttpUrl', () => {
  it('accepts absolute http and https URLs', () => {
    for (const ok of [
      'https://id.example.com/oauth/authorize?x=1',
      'http://127.0.0.1:4010/token',
      'HTTPS://A.EXAMPLE',
    ]) {
      expect(HttpUrl.safeParse(ok).success).toBe(true);
      expect(isHttpUrl(ok)).toBe(true);
    }
  });

  it('refuses every other scheme, relative references and text that is no URL', () => {
    for (const bad of [
      'javascript:alert(document.cookie)',
      'data:text/html,<script>alert(1)</script>',
      'file:///etc/passwd',
      'ftp://files.example.com/',
      'vbscript:msgbox',
      '/oauth/authorize',
      'https:no-slashes',
      'not a url',
    ]) {
      const r = HttpUrl.safeParse(bad);
      expect({ bad, success: r.success }).toEqual({ bad, success: false });
      expect(r.error!.issues[0]!.message).toBe('must be an http(s) URL');
      expect(isHttpUrl(bad)).toBe(false);
    }
  });
});

describe('zodIssues', () => {
  it('lists each unknown field at its own path, nested ones too', () => {
    const schema = z.object({ a: z.string(), b: z.object({ c: z.number() }).strict() }).strict();
    const r = schema.safeParse({ a: 'x', extra: 1, other: 2, b: { c: 1, 'we/ird~': true } });
    expect(zodIssues(r.error!)).toEqual([
      { path: '/b/we~1ird~0', message: 'unknown field' },
      { path: '/extra', message: 'unknown field' },
      { path: '/other', message: 'unknown field' },
    ]);
  });
});
