import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';

/** The key the edges sign their access tokens with (ADR 0082): the private half, its public JWK, its `alg` and `kid`. */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly alg: 'ES256' | 'EdDSA' | 'RS256';
  readonly kid: string;
  readonly jwk: JWK;
}

/** The JWS algorithm of a private key: EC P-256 → ES256, Ed25519 → EdDSA, RSA (≥ 2048 bits) → RS256; others refused. */
function algorithmOf(key: KeyObject): SigningKey['alg'] {
  const { asymmetricKeyType: type, asymmetricKeyDetails: details } = key;
  if (type === 'ec' && details?.namedCurve === 'prime256v1') return 'ES256';
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'rsa' && (details?.modulusLength ?? 0) >= 2048) return 'RS256';
  throw new Error(
    'ENTERPRISE_AS_SIGNING_KEY_FILE: an EC P-256, Ed25519 or RSA (2048 bits or more) private key is needed',
  );
}

/** RFC 7638 thumbprint of a public JWK: its required members in lexical order, SHA-256, base64url. */
function thumbprint(jwk: JsonWebKey): string {
  const members =
    jwk.kty === 'EC'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : jwk.kty === 'OKP'
        ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
        : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** Reads the PEM private key (every edge of a deployment shares it: a token one issues, any other accepts). */
export function readSigningKey(file: string): SigningKey {
  const privateKey = createPrivateKey(readFileSync(file, 'utf8'));
  const alg = algorithmOf(privateKey);
  const publicKey = createPublicKey(privateKey);
  const exported = publicKey.export({ format: 'jwk' });
  const kid = thumbprint(exported);
  return { privateKey, publicKey, alg, kid, jwk: { ...(exported as JWK), kid, alg, use: 'sig' } };
}
