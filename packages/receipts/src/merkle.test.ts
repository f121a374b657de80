import { describe, expect, it } from '@jest/globals';
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from './merkle.ts';

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(`leaf ${i}`));
const flip = (b: Buffer) => {
  const c = Buffer.from(b);
  c[0] = c[0]! ^ 1;
  return c;
};

describe('RFC 9162 Merkle tree', () => {
  it('hashes leaves and nodes apart, and splits at the largest power of two below the size', () => {
    const [a, b, c] = leaves(3) as [Buffer, Buffer, Buffer];
    expect(treeHash([a])).toEqual(a);
    expect(treeHash([a, b, c])).toEqual(nodeHash(nodeHash(a, b), c));
    expect(treeHash([]).toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(leafHash('x')).not.toEqual(nodeHash(Buffer.alloc(0), Buffer.from('x')));
  });

  it('proves and checks every leaf of every tree up to 40 leaves, and refuses a changed proof', () => {
    const all = leaves(40);
    for (let n = 1; n <= 40; n++) {
      const root = treeHash(all, 0, n);
      for (let m = 0; m < n; m++) {
        const path = inclusionProof(all, m, 0, n);
        expect(verifyInclusion({ index: m, size: n }, all[m]!, path, root)).toBe(true);
        expect(verifyInclusion({ index: m, size: n }, flip(all[m]!), path, root)).toBe(false);
        if (path.length > 0)
          expect(verifyInclusion({ index: m, size: n }, all[m]!, [flip(path[0]!), ...path.slice(1)], root)).toBe(false);
        if (n > 1) expect(verifyInclusion({ index: (m + 1) % n, size: n }, all[m]!, path, root)).toBe(false);
      }
    }
  });

  it('proves every prefix of every tree up to 40 leaves consistent, and refuses a tree that is not an extension', () => {
    const all = leaves(40);
    const other = leaves(40).map((l, i) => (i === 2 ? flip(l) : l));
    for (let n = 1; n <= 40; n++)
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(all, m, n);
        const [first, second] = [treeHash(all, 0, m), treeHash(all, 0, n)];
        expect(verifyConsistency({ size: m, root: first }, { size: n, root: second }, proof)).toBe(true);
        if (m > 2)
          expect(verifyConsistency({ size: m, root: treeHash(other, 0, m) }, { size: n, root: second }, proof)).toBe(
            false,
          );
        if (m < n && m > 2)
          expect(verifyConsistency({ size: m, root: first }, { size: n, root: treeHash(other, 0, n) }, proof)).toBe(
            false,
          );
      }
  });
});
