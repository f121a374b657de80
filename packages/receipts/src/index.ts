export { saltedDigest } from './encoding.ts';
export { parseKeySet, type ReceiptKeySet } from './keys.ts';
export {
  RECEIPT_META_KEY,
  type Receipt,
  type ReceiptBundle,
  type ReceiptDecision,
  type ReceiptPrincipal,
} from './receipt.ts';
export { bundleOf, issueReceipt, ReceiptSigner, type ReceiptFacts } from './signer.ts';
export { verifyReceipt } from './verify.ts';
