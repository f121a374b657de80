import { createHash, timingSafeEqual } from 'node:crypto';
import type { EnterpriseIdpRule } from '@toolplane/contracts';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';

/** The JWT bearer grant (RFC 7523) and the ID-JAG's `typ` (draft-ietf-oauth-identity-assertion-authz-grant). */
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ID_JAG_TYP = 'oauth-id-jag+jwt';
/** Asymmetric algorithms only: never `none`, never an HMAC keyed with something the IdP publishes. */
const ID_JAG_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];
/** The longest an ID-JAG may live (`exp` − `iat`): the specification wants them short-lived. */
const MAX_ID_JAG_LIFETIME_SECONDS = 3600;

/** An RFC 6749 §5.2 error answer: the status, the error code and its description. */
export class GrantRefusal extends Error {
  readonly error:
    | 'invalid_request'
    | 'invalid_client'
    | 'invalid_grant'
    | 'unsupported_grant_type'
    | 'invalid_target'
    | 'invalid_dpop_proof';
  readonly status: number;

  constructor(error: GrantRefusal['error'], description: string) {
    super(description);
    this.name = 'GrantRefusal';
    this.error = error;
    this.status = error === 'invalid_client' ? 401 : 400;
  }
}

/** The client authentication methods a token request carries (RFC 6749 §2.3, RFC 7521 §4.2). */
function methodsOf(form: Record<string, unknown>, authorization: string | undefined): string[] {
  const present = (v: unknown) => v !== undefined && v !== '';
  return [
    ...(authorization !== undefined && authorization !== '' ? ['the Authorization header'] : []),
    ...(present(form.client_secret) ? ['client_secret'] : []),
    ...(present(form.client_assertion) || present(form.client_assertion_type) ? ['client_assertion'] : []),
  ];
}

/**
 * The client's credentials: `client_secret_basic` (RFC 6749 §2.3.1) or `client_secret_post`, never both: "the client
 * MUST NOT use more than one authentication method in each request" (§2.3), so a request carrying two (HTTP Basic and
 * a `client_secret` in the body, or either beside a `client_assertion`) is refused `invalid_request`.
 */
export function clientCredentials(
  form: Record<string, unknown>,
  authorization: string | undefined,
): { clientId: string; secret: string } {
  const methods = methodsOf(form, authorization);
  if (methods.length > 1)
    throw new GrantRefusal(
      'invalid_request',
      `one client authentication method per request (RFC 6749 §2.3); this one used ${methods.join(' and ')}`,
    );
  const basic = /^Basic\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  if (basic) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      let found: { clientId: string; secret: string };
      try {
        found = {
          clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
          secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
        };
      } catch {
        throw new GrantRefusal('invalid_client', 'the client credentials could not be read');
      }
      // A `client_id` in the body beside HTTP Basic (allowed: it is no authentication) must name the same client.
      if (typeof form.client_id === 'string' && form.client_id !== '' && form.client_id !== found.clientId)
        throw new GrantRefusal('invalid_request', 'client_id in the body names another client than HTTP Basic');
      return found;
    }
  }
  const { client_id: clientId, client_secret: secret } = form;
  if (typeof clientId === 'string' && clientId && typeof secret === 'string' && secret) return { clientId, secret };
  throw new GrantRefusal(
    'invalid_client',
    'client authentication is required (client_secret_basic or client_secret_post)',
  );
}

/** Whether `secret` is the registered client's (its SHA-256 compared in constant time). */
export function secretMatches(secret: string, idp: EnterpriseIdpRule): boolean {
  const given = createHash('sha256').update(secret).digest();
  const stored = Buffer.from(idp.clientSecretHash, 'hex');
  return stored.length === given.length && timingSafeEqual(given, stored);
}

/**
 * What the ID-JAG says before its signature is checked: only to find the server (`resource`) and the IdP (`iss`)
 * whose keys then verify it; nothing read here is trusted until `verifyIdJag` accepted the whole.
 */
export function unverifiedIdJag(assertion: string): { typ: unknown; iss: string; resource: string } {
  let typ: unknown;
  let payload: JWTPayload;
  try {
    typ = decodeProtectedHeader(assertion).typ;
    payload = decodeJwt(assertion);
  } catch {
    throw new GrantRefusal('invalid_grant', 'the assertion is not a JWT');
  }
  if (typ !== ID_JAG_TYP) throw new GrantRefusal('invalid_grant', `the assertion's "typ" is not "${ID_JAG_TYP}"`);
  if (typeof payload.iss !== 'string') throw new GrantRefusal('invalid_grant', 'the assertion names no issuer');
  if (typeof payload.resource !== 'string')
    throw new GrantRefusal('invalid_grant', 'the assertion names no "resource" (the MCP server it is for)');
  return { typ, iss: payload.iss, resource: payload.resource };
}

/** Remote JWKS by URL, one per IdP key set (cached and refreshed by jose, with a cooldown against key storms). */
export class IdpKeys {
  private readonly sets = new Map<string, JWTVerifyGetKey>();

  of(jwksUrl: string): JWTVerifyGetKey {
    let set = this.sets.get(jwksUrl);
    if (!set) {
      set = createRemoteJWKSet(new URL(jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
      this.sets.set(jwksUrl, set);
    }
    return set;
  }
}

/** The verified ID-JAG: its subject, `jti`, expiry, scope and the claim naming the person. */
export interface IdJag {
  sub: string;
  jti: string;
  exp: number;
  scope: string | undefined;
  person: string | undefined;
}

/**
 * Verifies the ID-JAG as the specification requires: the IdP's signature (asymmetric algorithms only), `typ`, `iss`,
 * `aud` our issuer, `exp` and `iat` within `skew` seconds, a short lifetime, `sub`, `jti` and `client_id` present, and
 * `client_id` the authenticated client. Every failure is `invalid_grant`.
 */
export async function verifyIdJag(
  assertion: string,
  keys: JWTVerifyGetKey,
  expected: { idp: EnterpriseIdpRule; audience: string; skew: number },
): Promise<IdJag> {
  const { idp, audience, skew } = expected;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, keys, {
      issuer: idp.issuer,
      audience,
      typ: ID_JAG_TYP,
      algorithms: ID_JAG_ALGORITHMS,
      clockTolerance: skew,
      requiredClaims: ['sub', 'jti', 'exp', 'iat', 'client_id'],
    }));
  } catch (err) {
    throw new GrantRefusal('invalid_grant', idJagProblem(err));
  }
  const now = Math.floor(Date.now() / 1000);
  const { iat, exp, jti, sub } = payload as Required<Pick<JWTPayload, 'iat' | 'exp' | 'jti' | 'sub'>>;
  if (iat > now + skew) throw new GrantRefusal('invalid_grant', 'the assertion was issued in the future');
  if (exp - iat > MAX_ID_JAG_LIFETIME_SECONDS)
    throw new GrantRefusal('invalid_grant', `the assertion lives longer than ${MAX_ID_JAG_LIFETIME_SECONDS} s`);
  if (payload.client_id !== idp.clientId)
    throw new GrantRefusal('invalid_grant', 'the assertion was issued to another client');
  const person = payload[idp.userClaim];
  return {
    sub,
    jti,
    exp,
    scope: typeof payload.scope === 'string' ? payload.scope : undefined,
    person: typeof person === 'string' && person.length > 0 ? person : undefined,
  };
}

/** What was wrong with an ID-JAG, in words that name no key and no claim value. */
function idJagProblem(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the assertion has expired';
  if (err instanceof errors.JWTClaimValidationFailed)
    return `the assertion's "${err.claim}" claim is not accepted here`;
  if (err instanceof errors.JOSEAlgNotAllowed) return "the assertion's signature algorithm is not accepted";
  return 'the assertion could not be verified';
}

/** The scope granted: the ID-JAG's, narrowed to the request's `scope` when the client asked for less. */
export function grantedScope(idJagScope: string | undefined, requested: unknown): string | undefined {
  if (idJagScope === undefined) return undefined;
  if (typeof requested !== 'string' || requested.trim() === '') return idJagScope;
  const asked = new Set(requested.split(' ').filter(Boolean));
  const granted = idJagScope.split(' ').filter((s) => asked.has(s));
  return granted.join(' ');
}
