import type { KeyObject } from 'node:crypto';
import { canonicalJson, fromBase64Url, saltedDigest } from './encoding.ts';
import { keysById, keyValidity, signatureValid, type ReceiptKey, type ReceiptKeySet } from './keys.ts';
import { leafHash, treeHash, verifyConsistency, verifyInclusion } from './merkle.ts';
import type { BundleEntry, Receipt, ReceiptBundle, SignedTreeHead } from './receipt.ts';

/**
 * The offline verifier of receipt bundles. It depends on nothing of Toolplane (node:crypto and an RFC 8785
 * canonicaliser only; a test reads its imports): an auditor runs it with the bundle and the keys they trust.
 */

export type { ReceiptBundle } from './receipt.ts';
export type { ReceiptKeySet } from './keys.ts';

/** One thing wrong in a bundle: where (`/entries/3`, `/tree_heads/1`, …), what kind, and why. */
export interface Problem {
  at: string;
  kind:
    | 'malformed'
    | 'key'
    | 'signature'
    | 'key_validity'
    | 'order'
    | 'fork'
    | 'inclusion'
    | 'completeness'
    | 'disclosure'
    | 'log';
  message: string;
}

export interface Verdict {
  ok: boolean;
  receipts: number;
  treeHeads: number;
  disclosed: number;
  problems: Problem[];
}

type Keys = Map<string, { key: ReceiptKey; publicKey: KeyObject }>;

/** What the checks share: the trusted keys and the problems found so far. */
interface Checks {
  keys: Keys;
  problems: Problem[];
}

/**
 * Verifies a bundle against `trusted` keys (the published key set, pinned; absent: the bundle's own keys, which proves
 * only that the bundle is consistent with itself). Checks each tree head's signature and key validity, that heads
 * are consistent (RFC 9162 consistency proofs; two heads of one size with two roots are a fork), each receipt's
 * signature and key validity at its `issued_at`, its inclusion proof, the entries' order, the whole tree for a
 * `complete` bundle, and every disclosed argument and result against its salted digest.
 */
export function verifyBundle(bundle: ReceiptBundle, trusted?: ReceiptKeySet): Verdict {
  const problems: Problem[] = [];
  const verdict = (disclosed = 0): Verdict => ({
    ok: problems.length === 0,
    receipts: Array.isArray(bundle?.entries) ? bundle.entries.length : 0,
    treeHeads: Array.isArray(bundle?.tree_heads) ? bundle.tree_heads.length : 0,
    disclosed,
    problems,
  });
  if (!wellFormed(bundle, problems)) return verdict();
  let keys: Keys;
  try {
    keys = keysById(trusted ?? bundle.keys ?? { keys: [] });
  } catch (err) {
    problems.push({ at: '/keys', kind: 'key', message: (err as Error).message });
    return verdict();
  }
  try {
    return verdict(checkAll(bundle, { keys, problems }));
  } catch (err) {
    // A member of the wrong type somewhere (a proof that is no array, a hash that is no string): refused, not thrown.
    problems.push({ at: '', kind: 'malformed', message: `not a well-formed bundle: ${(err as Error).message}` });
    return verdict();
  }
}

/** Heads, their consistency, entries and completeness; answers how many entries disclosed calls that matched. */
function checkAll(bundle: ReceiptBundle, checks: Checks): number {
  const { keys, problems } = checks;
  const heads = checkHeads(bundle, checks);
  checkConsistency(bundle, heads, problems);
  let disclosed = 0;
  bundle.entries.forEach((entry, i) => {
    if (checkEntry({ keys, problems, bundle, heads }, entry, `/entries/${i}`)) disclosed++;
    const previous = bundle.entries[i - 1];
    if (previous && entry.leaf_index <= previous.leaf_index)
      problems.push({
        at: `/entries/${i}`,
        kind: 'order',
        message: 'leaf indices must rise: a receipt was moved or doubled',
      });
  });
  if (bundle.complete) checkComplete(bundle, heads, problems);
  return disclosed;
}

function wellFormed(bundle: ReceiptBundle, problems: Problem[]): boolean {
  const ok =
    bundle !== null &&
    typeof bundle === 'object' &&
    bundle.bundle_version === 1 &&
    typeof bundle.log_id === 'string' &&
    Array.isArray(bundle.tree_heads) &&
    Array.isArray(bundle.consistency) &&
    Array.isArray(bundle.entries);
  if (!ok) problems.push({ at: '', kind: 'malformed', message: 'not a receipt bundle of version 1' });
  return ok;
}

/** A body's signature by its named key, and the key's validity at `at`. */
function checkSigned(
  { keys, problems }: Checks,
  body: { key_id: string; signature: string },
  at: string,
  where: string,
): boolean {
  const found = keys.get(body.key_id);
  if (!found) {
    problems.push({ at: where, kind: 'key', message: `signed by key ${String(body.key_id)}, not a trusted key` });
    return false;
  }
  const { signature, ...signed } = body;
  if (!signatureValid(found.publicKey, signed, signature)) {
    problems.push({ at: where, kind: 'signature', message: 'the signature does not match its content' });
    return false;
  }
  const invalid = keyValidity(found.key, at);
  if (invalid) {
    problems.push({ at: where, kind: 'key_validity', message: invalid });
    return false;
  }
  return true;
}

/** The heads that verify, by size; heads must rise in size, and one size has one root. */
function checkHeads(bundle: ReceiptBundle, checks: Checks): Map<number, SignedTreeHead> {
  const { problems } = checks;
  const bySize = new Map<number, SignedTreeHead>();
  bundle.tree_heads.forEach((head, i) => {
    const at = `/tree_heads/${i}`;
    if (head.log_id !== bundle.log_id)
      problems.push({ at, kind: 'log', message: `a head of log ${head.log_id}, not of ${bundle.log_id}` });
    if (!checkSigned(checks, head, head.timestamp, at)) return;
    const same = bySize.get(head.tree_size);
    if (same && same.root_hash !== head.root_hash)
      problems.push({ at, kind: 'fork', message: `two heads of size ${head.tree_size} with different roots` });
    const previous = bundle.tree_heads[i - 1];
    if (previous && head.tree_size <= previous.tree_size)
      problems.push({ at, kind: 'order', message: 'tree heads must rise in size' });
    bySize.set(head.tree_size, head);
  });
  return bySize;
}

/** Each head with the next: a consistency proof that the larger tree extends the smaller one. */
function checkConsistency(bundle: ReceiptBundle, heads: Map<number, SignedTreeHead>, problems: Problem[]): void {
  const sizes = [...heads.keys()].sort((a, b) => a - b);
  for (let i = 1; i < sizes.length; i++) {
    const from = heads.get(sizes[i - 1]!)!;
    const to = heads.get(sizes[i]!)!;
    const proof = bundle.consistency.find((c) => c.from_size === from.tree_size && c.to_size === to.tree_size);
    const at = `/consistency/${from.tree_size}-${to.tree_size}`;
    if (!proof) {
      problems.push({ at, kind: 'fork', message: `no consistency proof from ${from.tree_size} to ${to.tree_size}` });
      continue;
    }
    const ok = verifyConsistency(
      { size: from.tree_size, root: Buffer.from(from.root_hash, 'hex') },
      { size: to.tree_size, root: Buffer.from(to.root_hash, 'hex') },
      proof.proof.map((h) => Buffer.from(h, 'hex')),
    );
    if (!ok)
      problems.push({
        at,
        kind: 'fork',
        message: `the tree of ${to.tree_size} does not extend that of ${from.tree_size}`,
      });
  }
}

/** One entry: its receipt, inclusion proof and disclosure. Answers whether something was disclosed and matched. */
function checkEntry(
  checks: Checks & { bundle: ReceiptBundle; heads: Map<number, SignedTreeHead> },
  entry: BundleEntry,
  at: string,
): boolean {
  const { bundle, heads, problems } = checks;
  const receipt = entry.receipt;
  if (receipt?.receipt_version !== 1) {
    problems.push({ at, kind: 'malformed', message: 'not a receipt of version 1' });
    return false;
  }
  if (receipt.workspace_id !== bundle.log_id)
    problems.push({ at, kind: 'log', message: `a receipt of workspace ${receipt.workspace_id}` });
  checkSigned(checks, receipt, receipt.issued_at, at);
  const head = heads.get(entry.tree_size);
  if (!head) problems.push({ at, kind: 'inclusion', message: `no verified tree head of size ${entry.tree_size}` });
  else {
    const ok = verifyInclusion(
      { index: entry.leaf_index, size: entry.tree_size },
      leafHash(canonicalJson(receipt)),
      entry.inclusion.map((h) => Buffer.from(h, 'hex')),
      Buffer.from(head.root_hash, 'hex'),
    );
    if (!ok)
      problems.push({
        at,
        kind: 'inclusion',
        message: `not leaf ${entry.leaf_index} of the tree of ${entry.tree_size}`,
      });
    else if (Date.parse(receipt.issued_at) > Date.parse(head.timestamp))
      problems.push({ at, kind: 'inclusion', message: 'issued after the tree head that includes it' });
  }
  return entry.disclosure ? checkDisclosure(receipt, entry.disclosure, at, problems) : false;
}

/** Disclosed arguments and result against the receipt's salted digests. */
function checkDisclosure(
  receipt: Receipt,
  d: NonNullable<BundleEntry['disclosure']>,
  at: string,
  problems: Problem[],
): boolean {
  const before = problems.length;
  if ('arguments' in d && saltedDigest(d.arguments, fromBase64Url(d.input_salt)) !== receipt.input_hash)
    problems.push({ at: `${at}/disclosure/arguments`, kind: 'disclosure', message: 'the arguments do not match' });
  if ('result' in d) {
    const digest = d.output_salt ? saltedDigest(d.result, fromBase64Url(d.output_salt)) : undefined;
    if (digest === undefined || digest !== receipt.output_hash)
      problems.push({ at: `${at}/disclosure/result`, kind: 'disclosure', message: 'the result does not match' });
  }
  return problems.length === before;
}

/** A complete bundle: its entries are leaves 0 … n-1 of the largest head, and they make its root. */
function checkComplete(bundle: ReceiptBundle, heads: Map<number, SignedTreeHead>, problems: Problem[]): void {
  const size = Math.max(0, ...heads.keys());
  const head = heads.get(size);
  const leaves = bundle.entries.map((e) => leafHash(canonicalJson(e.receipt)));
  const indexed = bundle.entries.every((e, i) => e.leaf_index === i);
  if (!head || leaves.length !== size || !indexed || treeHash(leaves).toString('hex') !== head.root_hash)
    problems.push({
      at: '/entries',
      kind: 'completeness',
      message: `the entries are not the ${size} receipts of the tree, in order`,
    });
}

/** One receipt alone against one key (no tree): its signature and the key's validity when it was issued. */
export function verifyReceipt(receipt: Receipt, trusted: ReceiptKeySet): Problem[] {
  const problems: Problem[] = [];
  try {
    checkSigned({ keys: keysById(trusted), problems }, receipt, receipt.issued_at, '');
  } catch (err) {
    problems.push({ at: '/keys', kind: 'key', message: (err as Error).message });
  }
  return problems;
}
