import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { canonicalJson, fromBase64Url, sha256 } from './encoding.ts';

/**
 * A receipt key as it is published (`/.well-known/toolplane-receipt-keys`) and carried in bundles: the Ed25519 public
 * key as a JWK (RFC 8037), its id (the RFC 7638 thumbprint, so an id names one key and no other), and when it may sign:
 * from `not_before`, until `not_after` (a rotation's end: receipts of before still verify), and never at or after
 * `revoked_at` (a key believed lost: what it signed later is refused, what it signed before still stands).
 */
export interface ReceiptKey {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  not_before: string;
  not_after?: string;
  revoked_at?: string;
}

export interface ReceiptKeySet {
  keys: ReceiptKey[];
}

/** RFC 7638 thumbprint of an Ed25519 public key given as its JWK `x`: SHA-256 of `{"crv","kty","x"}`, base64url. */
export const keyId = (x: string): string =>
  sha256(canonicalJson({ crv: 'Ed25519', kty: 'OKP', x })).toString('base64url');

/** Why a key may not have signed at `at` (undefined: it may have). */
export function keyValidity(key: ReceiptKey, at: string): string | undefined {
  const t = Date.parse(at);
  if (Number.isNaN(t)) return `"${at}" is not a time`;
  if (t < Date.parse(key.not_before)) return `key ${key.kid} is valid only from ${key.not_before}`;
  if (key.not_after !== undefined && t >= Date.parse(key.not_after))
    return `key ${key.kid} was valid only until ${key.not_after}`;
  if (key.revoked_at !== undefined && t >= Date.parse(key.revoked_at))
    return `key ${key.kid} was revoked at ${key.revoked_at}`;
  return undefined;
}

/** A key set's keys by id, each checked: an Ed25519 JWK whose id is its thumbprint. Throws on the first bad one. */
export function keysById(set: ReceiptKeySet): Map<string, { key: ReceiptKey; publicKey: KeyObject }> {
  const byId = new Map<string, { key: ReceiptKey; publicKey: KeyObject }>();
  if (!set || !Array.isArray(set.keys)) throw new TypeError('a key set has a "keys" array');
  for (const key of set.keys) {
    if (key?.kty !== 'OKP' || key.crv !== 'Ed25519' || typeof key.x !== 'string')
      throw new TypeError('a receipt key is an Ed25519 JWK (kty OKP, crv Ed25519, x)');
    if (key.kid !== keyId(key.x)) throw new TypeError(`key ${String(key.kid)} is not named by its thumbprint`);
    if (typeof key.not_before !== 'string' || Number.isNaN(Date.parse(key.not_before)))
      throw new TypeError(`key ${key.kid} has no valid not_before`);
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.x }, format: 'jwk' });
    byId.set(key.kid, { key, publicKey });
  }
  return byId;
}

/** Whether `signature` (base64url) is an Ed25519 signature of the canonical JSON of `body` by `publicKey`. */
export function signatureValid(publicKey: KeyObject, body: unknown, signature: unknown): boolean {
  if (typeof signature !== 'string') return false;
  try {
    return verify(null, Buffer.from(canonicalJson(body)), publicKey, fromBase64Url(signature));
  } catch {
    return false;
  }
}

/** A key set read from its JSON text, each key checked (`keysById`); throws naming the first bad one. */
export function parseKeySet(text: string): ReceiptKeySet {
  const set = JSON.parse(text) as ReceiptKeySet;
  keysById(set);
  return set;
}
