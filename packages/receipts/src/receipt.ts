import type { ReceiptKeySet } from './keys.ts';

/**
 * A receipt of one tool call (version 1), and what anchors it: the shapes the signer writes and the verifier reads.
 * Member names follow the drafts on signed receipts of agent actions where one fits (`receipt_id`, `issued_at`,
 * `principal`, `input_hash`, `output_hash`, `key_id`, `signature` over the RFC 8785 form without it; ADR 0111 says
 * where and why not); tree heads follow RFC 9162's signed tree head (`tree_size`, `root_hash`, `timestamp`).
 */

/** The caller that made the call: an API key, or a token's subject, and a narrowed token's chain. */
export interface ReceiptPrincipal {
  key_id?: string;
  subject?: string;
  /** A narrowed token's call: the token's id and its actors, root first. */
  delegation?: { token_id: string; actors: string[] };
}

/** One rule's part in the call: `access` → `allow`, `approval` → `approved`, `quota` → `refuse`, … */
export interface ReceiptDecision {
  rule: string;
  decision: string;
}

/** What a receipt says and is signed over: every member but `signature`. */
export type ReceiptBody = {
  receipt_version: 1;
  /** The call's execution record id. */
  receipt_id: string;
  /** A call made by another call (a program's inner call, a workflow's step): the parent's record id. */
  parent_receipt_id?: string;
  workspace_id: string;
  principal: ReceiptPrincipal;
  /** The person the call acted for, when it named one. */
  acting_for?: string;
  /** Which way the call came: direct, task, code (a program's inner call), step, event. */
  path: string;
  server_id: string;
  tool: string;
  /** Salted SHA-256 of the arguments' canonical JSON (`sha256:<hex>`). */
  input_hash: string;
  /** Salted SHA-256 of the result as the caller received it (content, structured content, isError); absent: none. */
  output_hash?: string;
  /** The versions of the rules that decided: the catalog version, the published access document's digest. */
  policy: { catalog_version: number; access_digest?: string };
  decisions: ReceiptDecision[];
  /** How the call ended, as its record says (success, tool_error, rejected, failed, unknown, held). */
  outcome: string;
  started_at: string;
  issued_at: string;
  key_id: string;
};

/** A receipt: its body, and the Ed25519 signature of the body's RFC 8785 form (base64url). */
export type Receipt = ReceiptBody & { signature: string };

/** What a caller needs to show one call's arguments and result against its receipt: the salts (base64url). */
export interface ReceiptSalts {
  input_salt: string;
  output_salt?: string;
}

/** A workspace's tree head as signed (RFC 9162 shape): the tree of the first `tree_size` receipts. */
export interface TreeHeadBody {
  tree_head_version: 1;
  /** The tree's id: its workspace's. */
  log_id: string;
  tree_size: number;
  /** Hex of the tree's root hash. */
  root_hash: string;
  timestamp: string;
  key_id: string;
}

export interface SignedTreeHead extends TreeHeadBody {
  signature: string;
}

/** One receipt in a bundle: where it sits in the tree, the proof of it, and what its caller chose to disclose. */
export interface BundleEntry {
  receipt: Receipt;
  leaf_index: number;
  /** The tree head (by size) the inclusion proof is against. */
  tree_size: number;
  /** Hex hashes of the audit path (RFC 9162 PATH). */
  inclusion: string[];
  disclosure?: ReceiptSalts & { arguments?: unknown; result?: unknown };
}

/**
 * What `toolplane receipts verify` checks: one workspace's receipts with their inclusion proofs, its tree heads (size
 * ascending) with the consistency proofs between each and the next, the keys (trusted only when the verifier is told
 * to; pin the published ones). `complete`: the entries are every leaf of the largest head, in order (a dropped,
 * doubled or moved receipt then fails the root).
 */
export interface ReceiptBundle {
  bundle_version: 1;
  log_id: string;
  keys?: ReceiptKeySet;
  tree_heads: SignedTreeHead[];
  consistency: { from_size: number; to_size: number; proof: string[] }[];
  entries: BundleEntry[];
  complete?: boolean;
}

/** The `_meta` key of a tool result that carries its receipt and salts. */
export const RECEIPT_META_KEY = 'io.toolplane/receipt';
