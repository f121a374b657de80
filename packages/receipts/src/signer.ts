import { createPrivateKey, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { canonicalJson, saltedDigest } from './encoding.ts';
import { keyId, type ReceiptKey } from './keys.ts';
import { consistencyProof, inclusionProof, leafHash, treeHash } from './merkle.ts';
import type {
  BundleEntry,
  Receipt,
  ReceiptBody,
  ReceiptBundle,
  ReceiptSalts,
  SignedTreeHead,
  TreeHeadBody,
} from './receipt.ts';

/** An Ed25519 signing key: signs the RFC 8785 form of a body, named by its RFC 7638 thumbprint. */
export class ReceiptSigner {
  readonly keyId: string;
  readonly x: string;
  private readonly key: KeyObject;

  /** `key`: a PKCS #8 PEM text or a private KeyObject (Ed25519). */
  constructor(key: string | KeyObject) {
    this.key = typeof key === 'string' ? createPrivateKey(key) : key;
    if (this.key.asymmetricKeyType !== 'ed25519') throw new TypeError('a receipt key is an Ed25519 private key');
    const jwk = createPublicKey(this.key).export({ format: 'jwk' });
    this.x = jwk.x!;
    this.keyId = keyId(this.x);
  }

  /** Base64url Ed25519 signature of the body's canonical JSON. */
  sign(body: object): string {
    return sign(null, Buffer.from(canonicalJson(body)), this.key).toString('base64url');
  }

  /** This key as published, valid from `notBefore` (and until `notAfter`, when given). */
  publicKey(notBefore: string, notAfter?: string): ReceiptKey {
    return {
      kty: 'OKP',
      crv: 'Ed25519',
      x: this.x,
      kid: this.keyId,
      not_before: notBefore,
      ...(notAfter !== undefined ? { not_after: notAfter } : {}),
    };
  }
}

/** What a receipt is made from: the body without its digests and key, and the values digested. */
export type ReceiptFacts = Omit<ReceiptBody, 'receipt_version' | 'input_hash' | 'output_hash' | 'key_id'> & {
  arguments: unknown;
  /** The result as the caller received it (absent: the call has none, a refusal). */
  result?: unknown;
};

/** A signed receipt of `facts` and the salts that disclose its arguments and result. */
export function issueReceipt(
  signer: ReceiptSigner,
  facts: ReceiptFacts,
  salt: () => Buffer = () => randomBytes(16),
): { receipt: Receipt; salts: ReceiptSalts } {
  const { arguments: args, result, ...rest } = facts;
  const inputSalt = salt();
  const outputSalt = result === undefined ? undefined : salt();
  const body: ReceiptBody = {
    receipt_version: 1,
    ...rest,
    input_hash: saltedDigest(args ?? {}, inputSalt),
    ...(outputSalt ? { output_hash: saltedDigest(result, outputSalt) } : {}),
    key_id: signer.keyId,
  };
  const salts: ReceiptSalts = {
    input_salt: inputSalt.toString('base64url'),
    ...(outputSalt ? { output_salt: outputSalt.toString('base64url') } : {}),
  };
  return { receipt: { ...body, signature: signer.sign(body) }, salts };
}

/** A receipt's leaf in its workspace's tree: RFC 9162's leaf hash of its canonical JSON, signature included. */
const receiptLeaf = (receipt: Receipt): Buffer => leafHash(canonicalJson(receipt));

/** A signed tree head of `size` leaves with `root`, at `timestamp`. */
function signTreeHead(signer: ReceiptSigner, head: Omit<TreeHeadBody, 'tree_head_version' | 'key_id'>): SignedTreeHead {
  const body: TreeHeadBody = { tree_head_version: 1, ...head, key_id: signer.keyId };
  return { ...body, signature: signer.sign(body) };
}

/**
 * One workspace's append-only tree of receipts, in memory: leaves appended in order; roots, inclusion and consistency
 * proofs of any size reached so far.
 */
class ReceiptTree {
  private readonly leaves: Buffer[] = [];

  append(receipt: Receipt): number {
    this.leaves.push(receiptLeaf(receipt));
    return this.leaves.length - 1;
  }

  get size(): number {
    return this.leaves.length;
  }

  root(size = this.leaves.length): Buffer {
    return treeHash(this.leaves, 0, size);
  }

  inclusion(index: number, size = this.leaves.length): string[] {
    return inclusionProof(this.leaves, index, 0, size).map(hex);
  }

  consistency(from: number, to = this.leaves.length): string[] {
    return consistencyProof(this.leaves, from, to).map(hex);
  }
}

const hex = (b: Buffer) => b.toString('hex');

/**
 * A bundle of `receipts` (the whole tree, in order) under the heads signed at `sizes` (ascending; the last the tree's
 * size), with the consistency proof between each head and the next. `disclose`: each entry's disclosure, if any.
 */
export function bundleOf(options: {
  logId: string;
  signer: ReceiptSigner;
  receipts: readonly Receipt[];
  sizes: readonly number[];
  at: (size: number) => string;
  disclose?: (index: number) => BundleEntry['disclosure'];
  keys?: ReceiptBundle['keys'];
}): ReceiptBundle {
  const { logId, signer, receipts, sizes, at, disclose, keys } = options;
  const tree = new ReceiptTree();
  for (const r of receipts) tree.append(r);
  const heads = sizes.map((size) =>
    signTreeHead(signer, { log_id: logId, tree_size: size, root_hash: hex(tree.root(size)), timestamp: at(size) }),
  );
  const last = sizes.at(-1) ?? 0;
  return {
    bundle_version: 1,
    log_id: logId,
    ...(keys ? { keys } : {}),
    tree_heads: heads,
    consistency: sizes
      .slice(1)
      .map((to, i) => ({ from_size: sizes[i]!, to_size: to, proof: tree.consistency(sizes[i]!, to) })),
    entries: receipts.slice(0, last).map((receipt, i) => {
      const disclosure = disclose?.(i);
      return {
        receipt,
        leaf_index: i,
        tree_size: last,
        inclusion: tree.inclusion(i, last),
        ...(disclosure ? { disclosure } : {}),
      };
    }),
    complete: true,
  };
}
