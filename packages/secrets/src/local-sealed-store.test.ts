import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { generateSealingKeyPair, LocalSealedSecretsReader, LocalSealedSecretsWriter } from './local-sealed-store.ts';

describe('local sealed secrets store', () => {
  it('lets the holder of the private key read what the writer sealed, and stores no plaintext', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-secrets-'));
    const keys = generateSealingKeyPair();
    const writer = new LocalSealedSecretsWriter(dir, keys.publicKeyPem);
    const reader = new LocalSealedSecretsReader(dir, keys.privateKeyPem);
    const canary = `canary-${Math.random().toString(36).slice(2)}`;
    await writer.put('ws/1/instance/api_key', canary);
    expect(await reader.get('ws/1/instance/api_key')).toBe(canary);
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8')).not.toContain(canary);
    await writer.put('ws/1/instance/api_key', 'rotated');
    expect(await reader.get('ws/1/instance/api_key')).toBe('rotated');
    await writer.delete('ws/1/instance/api_key');
    expect(await reader.get('ws/1/instance/api_key')).toBeUndefined();
  });

  it('cannot be opened with another key pair (the writer side holds no way to read)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-secrets-'));
    const workerKeys = generateSealingKeyPair();
    await new LocalSealedSecretsWriter(dir, workerKeys.publicKeyPem).put('x', 'value');
    const other = new LocalSealedSecretsReader(dir, generateSealingKeyPair().privateKeyPem);
    await expect(other.get('x')).rejects.toThrow();
  });

  it('rejects names outside letters, digits, _, - and /', async () => {
    const writer = new LocalSealedSecretsWriter(mkdtempSync(join(tmpdir(), 'tp-secrets-')), generateSealingKeyPair().publicKeyPem);
    await expect(writer.put('bad name!', 'v')).rejects.toThrow('invalid secret name');
  });
});
