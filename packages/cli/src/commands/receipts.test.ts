import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { bundleOf, issueReceipt, ReceiptSigner, type ReceiptBundle } from '@toolplane/receipts';

/** `toolplane receipts verify` run as a user runs it, on bundle files: exit 0 and a count, or exit 3 and the problems. */

const main = fileURLToPath(new URL('../main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'receipts-cli-'));
const signer = new ReceiptSigner(generateKeyPairSync('ed25519').privateKey);
const keysFile = join(dir, 'keys.json');
writeFileSync(keysFile, JSON.stringify({ keys: [signer.publicKey('2026-11-01T00:00:00.000Z')] }));

function bundle(): ReceiptBundle {
  const receipts = Array.from({ length: 5 }, (_, i) => {
    const at = new Date(Date.parse('2026-11-29T10:00:00.000Z') + i * 1000).toISOString();
    return issueReceipt(signer, {
      receipt_id: `r-${i}`,
      workspace_id: 'ws-1',
      principal: { key_id: 'k-1' },
      path: 'direct',
      server_id: 's-1',
      tool: 'get_ticket',
      policy: { catalog_version: 1 },
      decisions: [{ rule: 'access', decision: 'allow' }],
      outcome: 'success',
      started_at: at,
      issued_at: at,
      arguments: { ticket_id: `TCK-${i}` },
      result: { content: [] },
    }).receipt;
  });
  return bundleOf({ logId: 'ws-1', signer, receipts, sizes: [2, 5], at: () => '2026-11-29T11:00:00.000Z' });
}

async function verify(b: unknown, ...more: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(dir, `bundle-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(b));
  try {
    const out = await promisify(execFile)(process.execPath, [
      '--conditions=@toolplane/source',
      main,
      'receipts',
      'verify',
      file,
      ...more,
    ]);
    return { code: 0, ...out };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('toolplane receipts verify', () => {
  it('verifies an untouched bundle against the keys given', async () => {
    const out = await verify(bundle(), '--keys', keysFile);
    expect(out).toMatchObject({ code: 0 });
    expect(out.stdout).toContain('5 receipts and 2 tree heads verified against the keys given');
  });

  it('refuses a changed receipt with exit code 3, naming each problem', async () => {
    const b = bundle();
    b.entries[3]!.receipt.outcome = 'rejected';
    const out = await verify(b, '--keys', keysFile, '--json');
    expect(out.code).toBe(3);
    const { error } = JSON.parse(out.stdout) as { error: { code: string; errors: { path: string }[] } };
    expect(error.code).toBe('receipts.signature');
    expect(error.errors.map((i) => i.path)).toEqual(expect.arrayContaining(['/entries/3', '/entries']));
    expect(out.stderr).toContain('the bundle does not verify');
  });
});
