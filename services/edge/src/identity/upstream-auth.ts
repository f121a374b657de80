import { createPublicKey, type KeyObject } from 'node:crypto';
import type { CatalogTool } from '@toolplane/contracts';
import { CompactEncrypt } from 'jose';

/**
 * Per-request authentication: the header a caller sends its own upstream credential in, for one call of
 * a connector or OpenAPI tool of a server that allows it (`perRequestAuth`). docs/security.md,
 * "Per-request credentials".
 */
const UPSTREAM_AUTHORIZATION_HEADER = 'x-upstream-authorization';

/** Seals a caller's upstream credential for one invocation: a compact JWE only the workers can open. */
export type UpstreamCredentialSealer = (value: string, invocationId: string) => Promise<string>;

const encoder = new TextEncoder();

/**
 * Seals to the workers' X25519 public key (`REQUEST_CREDENTIALS_PUBLIC_KEY_FILE`): ECDH-ES with an
 * ephemeral key, A256GCM; the protected header (authenticated) names the invocation, so a sealed value
 * copied into another job is refused. The edge holds the public half only: it can seal, never open.
 */
export function upstreamCredentialSealer(publicKeyPem: string): UpstreamCredentialSealer {
  const key: KeyObject = createPublicKey(publicKeyPem);
  if (key.asymmetricKeyType !== 'x25519')
    throw new Error('REQUEST_CREDENTIALS_PUBLIC_KEY_FILE must hold an X25519 public key (PEM)');
  return (value, invocationId) =>
    new CompactEncrypt(encoder.encode(value))
      .setProtectedHeader({
        alg: 'ECDH-ES',
        enc: 'A256GCM',
        cty: 'toolplane-upstream-authorization',
        inv: invocationId,
      })
      .encrypt(key);
}

/** The request's `X-Upstream-Authorization` value, or undefined when absent or empty. */
export function upstreamAuthorizationOf(headers: Record<string, string | string[] | undefined> | undefined) {
  const value = headers?.[UPSTREAM_AUTHORIZATION_HEADER];
  const text = Array.isArray(value) ? value.join(', ') : value;
  return text && text.trim() !== '' ? text : undefined;
}

/** Whether a tool sends a credential upstream that a caller's own can replace (connector and OpenAPI tools). */
function takesUpstreamCredential(tool: CatalogTool | undefined): boolean {
  const plan = tool?.plan;
  return plan?.kind === 'http' && (plan.auth !== undefined || Object.keys(plan.secrets).length > 0);
}

/**
 * The `upstream-credential` rule's fact of a tool (`pipeline/tool-facts.ts`): it sends a stored credential upstream,
 * which a caller's `X-Upstream-Authorization` may replace. Nothing to compile per catalog version.
 */
export const upstreamCredentialFacts = () => (entry: CatalogTool) =>
  takesUpstreamCredential(entry) ? (true as const) : undefined;
