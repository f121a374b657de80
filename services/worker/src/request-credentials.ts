import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { HttpOperationPlan } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import { compactDecrypt } from 'jose';

/** Opens the `upstreamAuthorization` of a job (sealed by the edge to this key) for that job's invocation only. */
export type RequestCredentialOpener = (sealed: string, invocationId: string) => Promise<string>;

const decoder = new TextDecoder();

/**
 * The workers' side of per-request credentials (docs/security.md, "Per-request credentials"): the X25519
 * private key (`REQUEST_CREDENTIALS_PRIVATE_KEY_FILE`) opens what the edge sealed to its public half. A
 * value sealed for another invocation, or that does not open, is refused: the call then fails and no
 * stored credential is used in its place.
 */
export function requestCredentialOpener(privateKeyPem: string): RequestCredentialOpener {
  const key: KeyObject = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== 'x25519')
    throw new Error('REQUEST_CREDENTIALS_PRIVATE_KEY_FILE must hold an X25519 private key (PEM)');
  return async (sealed, invocationId) => {
    let opened: Awaited<ReturnType<typeof compactDecrypt>>;
    try {
      opened = await compactDecrypt(sealed, key, {
        keyManagementAlgorithms: ['ECDH-ES'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
    } catch {
      throw unusable('it could not be opened (the edge and the workers hold keys of different pairs?)');
    }
    if (opened.protectedHeader.inv !== invocationId) throw unusable('it was sealed for another call');
    return decoder.decode(opened.plaintext);
  };
}

function unusable(why: string): UserError {
  return new UserError(
    'auth.upstream_authorization_invalid',
    `The X-Upstream-Authorization value was refused: ${why}.`,
  );
}

/**
 * The credential values of one call made with the caller's own upstream credential, in place of the
 * stored ones: the value goes where the tool's API takes its credential. Bearer and OAuth 2 schemes get
 * `Authorization: Bearer <value>` (no token request), HTTP Basic takes `<username>:<password>`, an API key
 * (a connector's `auth_headers`, an OpenAPI `apiKey` in a header, the query or a cookie) is the value.
 * A leading `Bearer ` is dropped. An API taking more than one credential is refused: one header carries one.
 */
export function perRequestCredentials(
  plan: HttpOperationPlan,
  header: string,
): { credentials: Record<string, string>; secretValues: string[] } {
  const value = header.replace(/^bearer\s+/i, '').trim();
  if (value === '') throw new UserError('auth.upstream_authorization_invalid', 'X-Upstream-Authorization is empty.');
  const credentials: Record<string, string> = {};
  // Fields the authentication method consumes; the others are filled into templates as they are.
  const consumed = new Set<string>();
  if (plan.auth) {
    if (plan.auth.kind === 'basic') {
      const colon = value.indexOf(':');
      if (colon < 0)
        throw new UserError(
          'auth.upstream_authorization_invalid',
          'This tool’s API uses HTTP Basic authentication: send X-Upstream-Authorization as <username>:<password>.',
        );
      credentials.__authorization = `Basic ${Buffer.from(value).toString('base64')}`;
      consumed.add(plan.auth.username).add(plan.auth.password);
    } else {
      credentials.__authorization = `Bearer ${value}`;
      if (plan.auth.kind === 'bearer') consumed.add(plan.auth.token);
      else consumed.add(plan.auth.clientId).add(plan.auth.clientSecret);
    }
  }
  const others = Object.keys(plan.secrets).filter((f) => !consumed.has(f));
  if (others.length + (plan.auth ? 1 : 0) > 1)
    throw new UserError(
      'auth.upstream_authorization_invalid',
      `This tool’s API takes ${others.length + (plan.auth ? 1 : 0)} credentials (${[
        ...(plan.auth ? [plan.auth.kind] : []),
        ...others,
      ].join(', ')}); X-Upstream-Authorization carries one. Call it without the header.`,
    );
  for (const field of others) credentials[field] = value;
  // Redacted wherever they appear (results, records, debug captures), in every form sent.
  return { credentials, secretValues: [header, value, ...Object.values(credentials)] };
}
