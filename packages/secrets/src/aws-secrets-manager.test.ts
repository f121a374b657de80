// The AWS Secrets Manager backend against a real emulator: moto_server, started on 127.0.0.1 by
// tests/setup/global-setup.js (TEST_MOTO_URL). A missing moto_server fails these tests, never skips them.
import { randomBytes } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from '@jest/globals';
import { AwsSecretsReader, AwsSecretsWriter, type AwsSecretsOptions } from './aws-secrets-manager.ts';

function moto(): AwsSecretsOptions {
  const endpoint = process.env.TEST_MOTO_URL;
  if (!endpoint)
    throw new Error(
      process.env.TEST_MOTO_ERROR ?? 'TEST_MOTO_URL is not set (tests/setup/global-setup.js starts moto_server)',
    );
  return { region: 'us-east-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
}

/** A deployment prefix of its own per test: the emulator is shared by the whole run. */
function backend(namePrefix = `tp-${randomBytes(4).toString('hex')}/`) {
  const opts = { ...moto(), namePrefix };
  return { writer: new AwsSecretsWriter(opts), reader: new AwsSecretsReader(opts), namePrefix };
}

describe('AWS Secrets Manager backend (moto_server)', () => {
  it('writes under the deployment prefix, reads back, rotates with versions and deletes', async () => {
    const { writer, reader, namePrefix } = backend();
    const value = `canary-${randomBytes(8).toString('hex')}`;
    const first = await writer.put('ws/w1/secrets/API_KEY', value);
    expect(first).toMatchObject({ name: 'ws/w1/secrets/API_KEY', created: true });
    expect(await reader.get('ws/w1/secrets/API_KEY')).toBe(value);

    // The name in AWS carries the prefix (what IAM policies scope to).
    const raw = new SecretsManagerClient({
      region: 'us-east-1',
      endpoint: moto().endpoint!,
      credentials: moto().credentials!,
    });
    expect(
      (await raw.send(new GetSecretValueCommand({ SecretId: `${namePrefix}ws/w1/secrets/API_KEY` }))).SecretString,
    ).toBe(value);

    const second = await writer.put('ws/w1/secrets/API_KEY', 'rotated');
    expect(second.created).toBe(false);
    expect(second.version).not.toBe(first.version);
    expect(await reader.get('ws/w1/secrets/API_KEY')).toBe('rotated');
    expect(await reader.get('ws/w1/secrets/API_KEY', 'previous')).toBe(value);
    expect(await reader.get('ws/w1/secrets/API_KEY', first.version)).toBe(value);
    expect(await reader.get('ws/w1/secrets/API_KEY', second.version)).toBe('rotated');

    const meta = await writer.describe('ws/w1/secrets/API_KEY');
    expect(meta).toMatchObject({ name: 'ws/w1/secrets/API_KEY', version: second.version });
    expect(meta!.versions.slice(0, 2)).toEqual([
      { id: second.version, stages: ['current'] },
      { id: first.version, stages: ['previous'] },
    ]);
    expect(JSON.stringify(meta)).not.toContain(value);

    expect(await writer.delete('ws/w1/secrets/API_KEY')).toBe(true);
    expect(await reader.get('ws/w1/secrets/API_KEY')).toBeUndefined();
    expect(await writer.describe('ws/w1/secrets/API_KEY')).toBeUndefined();
    expect(await writer.delete('ws/w1/secrets/API_KEY')).toBe(false);
    // Deleted without a recovery window: the name can be used again at once.
    expect(await writer.create('ws/w1/secrets/API_KEY', 'again')).toMatchObject({ created: true });
    expect(await reader.get('ws/w1/secrets/API_KEY')).toBe('again');
  });

  it('maps ResourceNotFoundException to undefined, and ResourceExistsException to a 409 conflict', async () => {
    const { writer, reader } = backend();
    expect(await reader.get('ws/w1/never-written')).toBeUndefined();
    expect(await reader.get('ws/w1/never-written', 'previous')).toBeUndefined();
    await writer.create('ws/w1/once', 'v');
    expect(await reader.get('ws/w1/once', 'previous')).toBeUndefined();
    expect(await reader.get('ws/w1/once', '00000000-0000-4000-8000-000000000000')).toBeUndefined();
    await expect(writer.create('ws/w1/once', 'v2')).rejects.toMatchObject({ code: 'resource.conflict', status: 409 });
  });

  it('lists metadata by prefix (exact prefix, names without the deployment prefix, no values)', async () => {
    const { writer } = backend();
    const value = `canary-${randomBytes(8).toString('hex')}`;
    await writer.put('ws/w1/secrets/A', value);
    await writer.put('ws/w1/secrets/B', value);
    await writer.put('ws/W1/secrets/C', value); // the AWS name filter ignores case; we do not
    await writer.put('ws/w2/secrets/D', value);
    await writer.put('ws/w1/secrets/E', value);
    await writer.delete('ws/w1/secrets/E');
    const listed = await writer.list('ws/w1/');
    expect(listed.map((m) => m.name)).toEqual(['ws/w1/secrets/A', 'ws/w1/secrets/B']);
    expect(listed[0]!.versions[0]!.stages).toEqual(['current']);
    expect(listed[0]!.updatedAt).toBeInstanceOf(Date);
    expect(JSON.stringify(listed)).not.toContain(value);
    // Another deployment's prefix sees none of them.
    expect(await backend().writer.list('ws/w1/')).toEqual([]);
  });

  it('turns an unreachable endpoint into a transient error', async () => {
    const opts = { ...moto(), endpoint: 'http://127.0.0.1:9' };
    const reader = new AwsSecretsReader({
      ...opts,
      client: new SecretsManagerClient({
        region: 'us-east-1',
        endpoint: opts.endpoint,
        credentials: opts.credentials!,
        maxAttempts: 1,
      }),
    });
    await expect(reader.get('ws/w1/x')).rejects.toMatchObject({ kind: 'transient', code: 'upstream.unreachable' });
  });

  it('rejects invalid names and prefixes before calling AWS', async () => {
    const { writer } = backend();
    await expect(writer.put('bad name', 'v')).rejects.toThrow('invalid secret name');
    expect(() => new AwsSecretsWriter({ ...moto(), namePrefix: 'bad prefix' })).toThrow(
      'invalid AWS secret name prefix',
    );
  });
});
