import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { generateSealingKeyPair } from './local-sealed-store.ts';
import { RecordArgumentsOpener, RecordArgumentsSealer } from './record-arguments.ts';

describe('record arguments (ADR 0080)', () => {
  it('opens with the private key only, for the record it was sealed for, and holds no plaintext', () => {
    const keys = generateSealingKeyPair();
    const sealer = new RecordArgumentsSealer(keys.publicKeyPem);
    const canary = `canary-${randomBytes(9).toString('hex')}`;
    const args = { text: canary, n: 3, nested: { list: [1, 'two'] } };
    const sealed = sealer.seal(args, 'record-1');
    expect(sealed).not.toContain(canary);
    expect(Buffer.from(sealed.split('.').slice(1).join(''), 'base64url').toString('latin1')).not.toContain(canary);
    const opener = new RecordArgumentsOpener(keys.privateKeyPem);
    expect(opener.open(sealed, 'record-1')).toEqual(args);
    // Another record's id, another key pair, a changed byte: nothing opens.
    expect(opener.open(sealed, 'record-2')).toBeUndefined();
    expect(new RecordArgumentsOpener(generateSealingKeyPair().privateKeyPem).open(sealed, 'record-1')).toBeUndefined();
    const parts = sealed.split('.');
    parts[4] = (parts[4]![0] === 'A' ? 'B' : 'A') + parts[4]!.slice(1);
    expect(opener.open(parts.join('.'), 'record-1')).toBeUndefined();
    expect(opener.open('not sealed', 'record-1')).toBeUndefined();
  });

  it('takes its keys as one-line base64 DER too (an environment variable), and refuses a key of another type', () => {
    const keys = generateSealingKeyPair();
    const oneLine = (pem: string) => pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    const sealed = new RecordArgumentsSealer(oneLine(keys.publicKeyPem)).seal({ a: 1 }, 'r');
    expect(new RecordArgumentsOpener(oneLine(keys.privateKeyPem)).open(sealed, 'r')).toEqual({ a: 1 });
    expect(new RecordArgumentsOpener(keys.privateKeyPem).open(sealed, 'r')).toEqual({ a: 1 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => new RecordArgumentsSealer(ec.publicKey.export({ type: 'spki', format: 'pem' }) as string)).toThrow(
      /X25519/,
    );
  });

  it('wraps one data key per hour: later seals reuse it, the next hour takes a new one', () => {
    const keys = generateSealingKeyPair();
    let now = 0;
    const sealer = new RecordArgumentsSealer(keys.publicKeyPem, () => now);
    const wrapped = (s: string) => s.split('.')[1];
    const first = sealer.seal({ a: 1 }, 'r1');
    expect(wrapped(sealer.seal({ a: 2 }, 'r2'))).toBe(wrapped(first));
    now = 3_600_000;
    const later = sealer.seal({ a: 3 }, 'r3');
    expect(wrapped(later)).not.toBe(wrapped(first));
    const opener = new RecordArgumentsOpener(keys.privateKeyPem);
    expect(opener.open(first, 'r1')).toEqual({ a: 1 });
    expect(opener.open(later, 'r3')).toEqual({ a: 3 });
  });

  it('gives each seal under one data key its own IV, a count from 1 (no random IV per call), and counts again under the next key', () => {
    const keys = generateSealingKeyPair();
    let now = 0;
    const sealer = new RecordArgumentsSealer(keys.publicKeyPem, () => now);
    const ivOf = (s: string) => s.split('.')[2]!;
    const count = (n: number) => Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n >> 8, n & 0xff]).toString('base64url');
    const sealed = Array.from({ length: 300 }, (_, i) => sealer.seal({ i }, `r${i}`));
    expect(sealed.map(ivOf)).toEqual(Array.from({ length: 300 }, (_, i) => count(i + 1)));
    const opener = new RecordArgumentsOpener(keys.privateKeyPem);
    expect(sealed.map((s, i) => opener.open(s, `r${i}`))).toEqual(Array.from({ length: 300 }, (_, i) => ({ i })));
    now = 3_600_000;
    const next = sealer.seal({ a: 1 }, 'n1');
    expect(ivOf(next)).toBe(count(1));
    expect(next.split('.')[1]).not.toBe(sealed[0]!.split('.')[1]);
    expect(opener.open(next, 'n1')).toEqual({ a: 1 });
  });
});
