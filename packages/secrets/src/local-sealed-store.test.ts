import {
  createCipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { generateSealingKeyPair, LocalSealedSecretsReader, LocalSealedSecretsWriter } from './local-sealed-store.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'tp-secrets-'));
const canary = () => `canary-${randomBytes(9).toString('hex')}`;

describe('local sealed secrets store', () => {
  it('lets the holder of the private key read what the writer sealed, and stores no plaintext', async () => {
    const dir = tmp();
    const keys = generateSealingKeyPair();
    const writer = new LocalSealedSecretsWriter(dir, keys.publicKeyPem);
    const reader = new LocalSealedSecretsReader(dir, keys.privateKeyPem);
    const value = canary();
    await writer.put('ws/1/instance/api_key', value);
    expect(await reader.get('ws/1/instance/api_key')).toBe(value);
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8')).not.toContain(value);
    await writer.put('ws/1/instance/api_key', 'rotated');
    expect(await reader.get('ws/1/instance/api_key')).toBe('rotated');
    expect(await writer.delete('ws/1/instance/api_key')).toBe(true);
    expect(await reader.get('ws/1/instance/api_key')).toBeUndefined();
    expect(await writer.delete('ws/1/instance/api_key')).toBe(false);
  });

  it('rotates to a new version and keeps the previous one readable by id and as `previous`', async () => {
    const dir = tmp();
    const keys = generateSealingKeyPair();
    const writer = new LocalSealedSecretsWriter(dir, keys.publicKeyPem);
    const reader = new LocalSealedSecretsReader(dir, keys.privateKeyPem);
    const first = await writer.put('ws/1/secrets/TOKEN', 'one');
    expect(first.created).toBe(true);
    const second = await writer.put('ws/1/secrets/TOKEN', 'two');
    expect(second).toMatchObject({ created: false, name: 'ws/1/secrets/TOKEN' });
    expect(second.version).not.toBe(first.version);
    expect(await reader.get('ws/1/secrets/TOKEN')).toBe('two');
    expect(await reader.get('ws/1/secrets/TOKEN', 'previous')).toBe('one');
    expect(await reader.get('ws/1/secrets/TOKEN', first.version)).toBe('one');
    expect(await reader.get('ws/1/secrets/TOKEN', second.version)).toBe('two');
    expect(await reader.get('ws/1/secrets/TOKEN', 'no-such-version')).toBeUndefined();
    const meta = await writer.describe('ws/1/secrets/TOKEN');
    expect(meta).toMatchObject({
      name: 'ws/1/secrets/TOKEN',
      version: second.version,
      versions: [
        { id: second.version, stages: ['current'] },
        { id: first.version, stages: ['previous'] },
      ],
    });
    expect(meta!.updatedAt.getTime()).toBeGreaterThanOrEqual(meta!.createdAt.getTime());
    // A third rotation drops the oldest version.
    await writer.put('ws/1/secrets/TOKEN', 'three');
    expect(await reader.get('ws/1/secrets/TOKEN', first.version)).toBeUndefined();
    expect(await reader.get('ws/1/secrets/TOKEN', 'previous')).toBe('two');
  });

  it('creates only once, and lists metadata by prefix without values', async () => {
    const dir = tmp();
    const keys = generateSealingKeyPair();
    const writer = new LocalSealedSecretsWriter(dir, keys.publicKeyPem);
    const value = canary();
    expect(await writer.create('ws/1/secrets/A', value)).toMatchObject({ created: true });
    await expect(writer.create('ws/1/secrets/A', 'other')).rejects.toMatchObject({
      code: 'resource.conflict',
      status: 409,
    });
    await writer.put('ws/1/secrets/B', value);
    await writer.put('ws/2/secrets/C', value);
    const listed = await writer.list('ws/1/');
    expect(listed.map((m) => m.name)).toEqual(['ws/1/secrets/A', 'ws/1/secrets/B']);
    expect(JSON.stringify(listed)).not.toContain(value);
    expect(await writer.list('ws/3/')).toEqual([]);
    expect(await new LocalSealedSecretsWriter(join(dir, 'missing'), keys.publicKeyPem).list('')).toEqual([]);
    expect(await writer.describe('ws/1/secrets/none')).toBeUndefined();
  });

  it('the writer holds no way to read: no read method, and its key opens nothing', async () => {
    const dir = tmp();
    const keys = generateSealingKeyPair();
    const writer = new LocalSealedSecretsWriter(dir, keys.publicKeyPem);
    await writer.put('x', 'value');
    expect('get' in writer).toBe(false);
    // The public key is all the writer is given; it is not a private key.
    expect(() => new LocalSealedSecretsReader(dir, keys.publicKeyPem)).toThrow();
    const other = new LocalSealedSecretsReader(dir, generateSealingKeyPair().privateKeyPem);
    await expect(other.get('x')).rejects.toThrow();
  });

  it('binds each value to its name: a file moved to another name does not open', async () => {
    const dir = tmp();
    const keys = generateSealingKeyPair();
    const writer = new LocalSealedSecretsWriter(dir, keys.publicKeyPem);
    await writer.put('a', 'value-of-a');
    await writer.put('b', 'value-of-b');
    const file = (n: string) => join(dir, createHash('sha256').update(n).digest('hex') + '.json');
    writeFileSync(file('b'), readFileSync(file('a')));
    await expect(new LocalSealedSecretsReader(dir, keys.privateKeyPem).get('b')).rejects.toThrow();
  });

  it('reads files of format 1 (before versions) and rotates them', async () => {
    const dir = tmp();
    const keys = generateSealingKeyPair();
    // A format-1 file exactly as the previous writer sealed it.
    const eph = generateKeyPairSync('x25519');
    const epk = eph.publicKey.export({ type: 'spki', format: 'der' });
    const key = Buffer.from(
      hkdfSync(
        'sha256',
        diffieHellman({ privateKey: eph.privateKey, publicKey: createPublicKey(keys.publicKeyPem) }),
        epk,
        Buffer.from('toolplane-sealed-secret-v1'),
        32,
      ),
    );
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from('legacy'));
    const ct = Buffer.concat([cipher.update('old-value', 'utf8'), cipher.final()]);
    const v1 = {
      v: 1,
      name: 'legacy',
      epk: epk.toString('base64'),
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      ct: ct.toString('base64'),
    };
    writeFileSync(join(dir, createHash('sha256').update('legacy').digest('hex') + '.json'), JSON.stringify(v1));
    const reader = new LocalSealedSecretsReader(dir, keys.privateKeyPem);
    expect(await reader.get('legacy')).toBe('old-value');
    const writer = new LocalSealedSecretsWriter(dir, keys.publicKeyPem);
    expect((await writer.describe('legacy'))?.version).toBe('initial');
    await writer.put('legacy', 'new-value');
    expect(await reader.get('legacy')).toBe('new-value');
    expect(await reader.get('legacy', 'previous')).toBe('old-value');
  });

  it('rejects names outside letters, digits, _, - and /', async () => {
    const writer = new LocalSealedSecretsWriter(tmp(), generateSealingKeyPair().publicKeyPem);
    await expect(writer.put('bad name!', 'v')).rejects.toThrow('invalid secret name');
    await expect(writer.create('../escape', 'v')).rejects.toThrow('invalid secret name');
  });
});
