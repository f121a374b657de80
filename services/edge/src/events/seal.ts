import { createPublicKey } from 'node:crypto';
import { CompactEncrypt } from 'jose';
import type { EventSecretSealer } from './subscriptions.ts';

const encoder = new TextEncoder();

/**
 * A webhook subscription's signing secret sealed for the workers (docs/events.md "Subscriptions in Redis"): a compact
 * JWE, ECDH-ES + A256GCM to the workers' X25519 key (`REQUEST_CREDENTIALS_PUBLIC_KEY_FILE`, ADR 0022); the protected
 * header names the subscription (`sub`), so a sealed secret copied into another subscription is refused. The edge can
 * seal, never open.
 */
export function eventSecretSealer(publicKeyPem: string): EventSecretSealer {
  const key = createPublicKey(publicKeyPem);
  if (key.asymmetricKeyType !== 'x25519')
    throw new Error('REQUEST_CREDENTIALS_PUBLIC_KEY_FILE must hold an X25519 public key (PEM)');
  return (secret, subscriptionId) =>
    new CompactEncrypt(encoder.encode(secret))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', cty: 'toolplane-event-secret', sub: subscriptionId })
      .encrypt(key);
}
