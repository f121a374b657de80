import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

/** RFC 8785 (JCS) canonical JSON of a value: the bytes every digest and signature of a receipt is over. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('a value with no JSON form cannot be canonicalised');
  return text;
}

/** SHA-256 of the parts, in order. */
export function sha256(...parts: (Uint8Array | string)[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** `sha256:<hex>`, the form of every digest a receipt carries. */
const digestText = (digest: Buffer): string => `sha256:${digest.toString('hex')}`;

/**
 * A salted digest of a JSON value (arguments, a result): SHA-256 over the salt's 16 bytes then the value's canonical
 * JSON. The salt keeps a guessable value (a yes/no, an id from a short list) from being found by trying each one;
 * disclosing it with the value lets anyone check that one value, and nothing about any other call.
 */
export function saltedDigest(value: unknown, salt: Buffer): string {
  return digestText(sha256(salt, canonicalJson(value)));
}

export const fromBase64Url = (text: string): Buffer => Buffer.from(text, 'base64url');
