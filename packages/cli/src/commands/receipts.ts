import { readFile } from 'node:fs/promises';
import { verifyBundle, type ReceiptBundle, type ReceiptKeySet } from '@toolplane/receipts/verify';
import type { Command } from 'commander';
import { action, withJson } from './context.ts';
import { CliError, ExitCode, usageError } from './errors.ts';

/** `toolplane receipts verify <bundle>`: receipts of tool calls checked offline, against the keys one trusts (ADR 0111). */

async function readJson<T>(file: string, what: string): Promise<T> {
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw usageError(`cannot read ${file}: ${err.message}`);
  });
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CliError(`${file} is not JSON (${what})`, ExitCode.invalid, { code: 'receipts.file_invalid' });
  }
}

export function receiptsCommand(program: Command): void {
  const receipts = program
    .command('receipts')
    .description('verify signed receipts of tool calls offline, without trusting the operator (ADR 0111)');
  withJson(
    receipts
      .command('verify <bundle>')
      .description(
        'check a bundle: signatures, key validity, inclusion proofs, tree heads and their consistency, and the ' +
          'disclosed arguments and results; names every problem (exit code 3)',
      )
      .option(
        '--keys <file>',
        'the key set to trust (GET /.well-known/toolplane-receipt-keys, pinned); without it the bundle’s own keys, ' +
          'which prove only that the bundle agrees with itself',
      ),
  ).action(
    action(async (ctx, args, opts) => {
      const bundle = await readJson<ReceiptBundle>(args[0]!, 'a receipt bundle');
      const keys = typeof opts.keys === 'string' ? await readJson<ReceiptKeySet>(opts.keys, 'a key set') : undefined;
      const verdict = verifyBundle(bundle, keys);
      if (!verdict.ok) {
        const first = verdict.problems[0]!;
        throw new CliError(
          `the bundle does not verify: ${verdict.problems.length} problem(s), the first at ${first.at || '/'}: ` +
            first.message,
          ExitCode.invalid,
          {
            code: `receipts.${first.kind}`,
            issues: verdict.problems.map((p) => ({ path: p.at || '/', message: `${p.kind}: ${p.message}` })),
          },
        );
      }
      const trust = keys ? 'the keys given' : 'the bundle’s own keys (pin the published ones with --keys)';
      ctx.out.result({ ...verdict, trusted: keys ? 'given' : 'bundle' }, () => [
        `${verdict.receipts} receipts and ${verdict.treeHeads} tree heads verified against ${trust}` +
          (verdict.disclosed > 0 ? `; ${verdict.disclosed} disclosed calls match their receipts` : ''),
      ]);
    }),
  );
}
