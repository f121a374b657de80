import { sha256 } from './encoding.ts';

/**
 * The Merkle tree of RFC 9162 (Certificate Transparency 2.0, section 2.1) over SHA-256: leaves hashed with a 0x00
 * prefix, interior nodes with 0x01 (a leaf can never pass for a node), the tree of n leaves split at the largest power
 * of two below n. Proofs are lists of hashes; the verifiers follow the RFC's algorithms step by step.
 */

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

export const leafHash = (leaf: Uint8Array | string): Buffer => sha256(LEAF, leaf);
export const nodeHash = (left: Uint8Array, right: Uint8Array): Buffer => sha256(NODE, left, right);

/** The largest power of two below n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const half = (n: number) => Math.floor(n / 2);
const odd = (n: number) => n % 2 === 1;

/** MTH of leaves[lo, hi) (leaf hashes): the empty tree's is SHA-256 of nothing. */
export function treeHash(leaves: readonly Buffer[], lo = 0, hi = leaves.length): Buffer {
  const n = hi - lo;
  if (n === 0) return sha256();
  if (n === 1) return leaves[lo]!;
  const k = split(n);
  return nodeHash(treeHash(leaves, lo, lo + k), treeHash(leaves, lo + k, hi));
}

/** PATH(m, D[lo:hi]): the audit path of leaf m (relative to lo). */
export function inclusionProof(leaves: readonly Buffer[], m: number, lo = 0, hi = leaves.length): Buffer[] {
  const n = hi - lo;
  if (n <= 1) return [];
  const k = split(n);
  if (m < k) return [...inclusionProof(leaves, m, lo, lo + k), treeHash(leaves, lo + k, hi)];
  return [...inclusionProof(leaves, m - k, lo + k, hi), treeHash(leaves, lo, lo + k)];
}

/** PROOF(m, D[0:n]): that the tree of the first m leaves is a prefix of the tree of n (0 < m ≤ n). */
export function consistencyProof(leaves: readonly Buffer[], m: number, n = leaves.length): Buffer[] {
  if (m <= 0 || m > n) throw new RangeError(`no consistency proof from ${m} to ${n}`);
  return subproof(leaves, m, [0, n], true);
}

/** SUBPROOF(m, D[lo:hi], whole). */
function subproof(leaves: readonly Buffer[], m: number, [lo, hi]: [number, number], whole: boolean): Buffer[] {
  const n = hi - lo;
  if (m === n) return whole ? [] : [treeHash(leaves, lo, hi)];
  const k = split(n);
  if (m <= k) return [...subproof(leaves, m, [lo, lo + k], whole), treeHash(leaves, lo + k, hi)];
  return [...subproof(leaves, m - k, [lo + k, hi], false), treeHash(leaves, lo, lo + k)];
}

/** RFC 9162 2.1.3.2: whether `path` proves `leaf` (its hash) at `index` in the tree of `size` leaves with `root`. */
export function verifyInclusion(
  { index, size }: { index: number; size: number },
  leaf: Buffer,
  path: readonly Buffer[],
  root: Buffer,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  let r = leaf;
  const ended = walk(index, size - 1, path, (c, left) => {
    r = left ? nodeHash(c, r) : nodeHash(r, c);
  });
  return ended && r.equals(root);
}

/**
 * The walk both verifiers take (RFC 9162 2.1.3.2 and 2.1.4.2): each hash of `path` is a left sibling when fn is odd
 * or equals sn (fn and sn then shift until fn is odd or 0), else a right one; then both shift once. Answers whether
 * the path ended at the root (sn 0), no hash left over nor missing.
 */
function walk(fn: number, sn: number, path: readonly Buffer[], sibling: (c: Buffer, left: boolean) => void): boolean {
  for (const c of path) {
    if (sn === 0) return false;
    const left = odd(fn) || fn === sn;
    sibling(c, left);
    if (left)
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0;
}

/** A tree as a consistency proof names it: its size and root hash. */
export interface TreeState {
  size: number;
  root: Buffer;
}

/** RFC 9162 2.1.4.2: whether `proof` shows the tree `older` a prefix of the tree `newer`. */
export function verifyConsistency(older: TreeState, newer: TreeState, proof: readonly Buffer[]): boolean {
  const [first, second, firstRoot, secondRoot] = [older.size, newer.size, older.root, newer.root];
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 1 || first > second) return false;
  if (first === second) return proof.length === 0 && firstRoot.equals(secondRoot);
  const path = powerOfTwo(first) ? [firstRoot, ...proof] : [...proof];
  if (path.length === 0) return false;
  let fn = first - 1;
  let sn = second - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  const ended = walk(fn, sn, path.slice(1), (c, left) => {
    if (left) fr = nodeHash(c, fr);
    sr = left ? nodeHash(c, sr) : nodeHash(sr, c);
  });
  return ended && fr.equals(firstRoot) && sr.equals(secondRoot);
}

function powerOfTwo(n: number): boolean {
  while (n > 1 && n % 2 === 0) n /= 2;
  return n === 1;
}
