import { createPrivateKey, type KeyObject } from 'node:crypto';
import { compactDecrypt } from 'jose';

const decoder = new TextDecoder();

/**
 * Opens a webhook subscription's signing secret, sealed by the edge (docs/events.md "Subscriptions in Redis"): a compact
 * JWE, ECDH-ES + A256GCM to the workers' X25519 key (`REQUEST_CREDENTIALS_PRIVATE_KEY_FILE`, ADR 0022), its protected
 * header `cty: "toolplane-event-secret"` and `sub` naming the subscription: a sealed secret copied into another
 * subscription is refused.
 */
export function eventSecretOpener(privateKeyPem: string): (sealed: string, subscriptionId: string) => Promise<string> {
  const key: KeyObject = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== 'x25519')
    throw new Error('REQUEST_CREDENTIALS_PRIVATE_KEY_FILE must hold an X25519 private key (PEM)');
  return async (sealed, subscriptionId) => {
    const opened = await compactDecrypt(sealed, key, {
      keyManagementAlgorithms: ['ECDH-ES'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    const header = opened.protectedHeader as { cty?: unknown; sub?: unknown };
    if (header.cty !== 'toolplane-event-secret' || header.sub !== subscriptionId)
      throw new Error('the callback secret was sealed for another subscription');
    return decoder.decode(opened.plaintext);
  };
}
