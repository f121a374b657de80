export { canonicalJson, saltedDigest } from './encoding.ts';
export { keyId, keyValidity, parseKeySet, type ReceiptKey, type ReceiptKeySet } from './keys.ts';
export {
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from './merkle.ts';
export {
  RECEIPT_META_KEY,
  type BundleEntry,
  type Receipt,
  type ReceiptBody,
  type ReceiptBundle,
  type ReceiptDecision,
  type ReceiptPrincipal,
  type ReceiptSalts,
  type SignedTreeHead,
  type TreeHeadBody,
} from './receipt.ts';
export {
  bundleOf,
  issueReceipt,
  receiptLeaf,
  ReceiptSigner,
  ReceiptTree,
  signTreeHead,
  type ReceiptFacts,
} from './signer.ts';
export { verifyBundle, verifyReceipt, type Problem, type Verdict } from './verify.ts';
