import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { ToolInvokeJob } from '@toolplane/contracts';
import { generateSealingKeyPair, RecordArgumentsOpener } from '@toolplane/secrets';
import { recordArgumentsSealer } from './record-arguments.ts';

describe('the record-arguments sealer of the worker env (ADR 0080)', () => {
  const keys = generateSealingKeyPair();
  const job = { arguments: { ticket: 'TCK-1' } } as unknown as ToolInvokeJob;
  const opener = new RecordArgumentsOpener(keys.privateKeyPem);

  it('seals with the public key given as text (prod: an environment variable) or as a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'record-arguments-'));
    writeFileSync(join(dir, 'pub.pem'), keys.publicKeyPem);
    const oneLine = keys.publicKeyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    for (const env of [
      { RECORD_ARGUMENTS_PUBLIC_KEY: oneLine },
      { RECORD_ARGUMENTS_PUBLIC_KEY: keys.publicKeyPem },
      { RECORD_ARGUMENTS_PUBLIC_KEY_FILE: join(dir, 'pub.pem') },
    ]) {
      const sealed = recordArgumentsSealer(env)!(job, 'rec-1')!;
      expect(opener.open(sealed, 'rec-1')).toEqual({ ticket: 'TCK-1' });
    }
  });

  it('keeps no arguments when neither is set', () => {
    expect(recordArgumentsSealer({})).toBeUndefined();
  });
});
