import { X509Certificate } from 'node:crypto';
import { apiKeyScopes } from '@toolplane/contracts';
import { AuthError } from '@toolplane/errors';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import type { RedisClient } from '@toolplane/redis';
import type { ControlPlaneEnv } from '../../env.ts';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';
import type { Caller } from '../auth.ts';
import { scimGroupsOfPerson } from '../oauth.ts';
import { rolesOf, type RoleMappingSettings } from '../roles.ts';
import { assertedPerson, libraryReason, responseXml, SamlRefusal } from './checks.ts';
import { requestLifetimeMs, SamlStore, sessionTokenPrefix, type SamlSession } from './store.ts';

/** SAML sign-in's settings (env.ts `SAML_*`), present only when SAML is configured. */
export interface SamlSettings {
  idpEntityId: string;
  idpSsoUrl: string;
  idpCerts: string[];
  spEntityId: string;
  /** `PUBLIC_API_URL`: the ACS is `<it>/saml/acs`; unset: the request's origin. */
  publicUrl: string | undefined;
  workspaceAttribute: string;
  groupsAttribute: string;
  scopes: string[];
  sessionMs: number;
}

export function samlSettings(env: ControlPlaneEnv): SamlSettings | undefined {
  const { SAML_IDP_ENTITY_ID: idp, SAML_IDP_SSO_URL: sso, SAML_IDP_CERT: cert, SAML_SP_ENTITY_ID: sp } = env;
  if (!idp || !sso || !cert || !sp) return undefined;
  return {
    idpEntityId: idp,
    idpSsoUrl: sso,
    // A PEM, or its base64 body; several while the identity provider rolls its key.
    idpCerts: cert
      .replace(/\\n/g, '\n')
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean),
    spEntityId: sp,
    publicUrl: env.PUBLIC_API_URL?.replace(/\/+$/, ''),
    workspaceAttribute: env.SAML_WORKSPACE_ATTRIBUTE,
    groupsAttribute: env.SAML_GROUPS_ATTRIBUTE,
    scopes: env.SAML_SCOPES.split(' '),
    sessionMs: env.SAML_SESSION_SECONDS * 1000,
  };
}

/**
 * When each of the identity provider's certificates expires (ms since the epoch), for the certificate-expiry metric; a
 * certificate that does not parse is left out (sign-in refuses assertions it cannot check anyway).
 */
export function certificatesNotAfter(certs: readonly string[]): number[] {
  const pem = (c: string) =>
    c.includes('-----BEGIN') ? c : `-----BEGIN CERTIFICATE-----\n${c.replace(/\s+/g, '')}\n-----END CERTIFICATE-----\n`;
  return certs.flatMap((c) => {
    try {
      return [Date.parse(new X509Certificate(pem(c)).validTo)];
    } catch {
      return [];
    }
  });
}

/** The scopes that open the management API at all (as `managementApiScopes`, without importing auth's runtime). */
const opening = ['management', 'audit', 'approve'];

/**
 * SAML 2.0 sign-in of people (ADR 0083): AuthnRequests (HTTP-Redirect) and responses at the ACS (HTTP-POST, solicited
 * or not) through @node-saml/node-saml, which verifies the signature (the assertion's, always), the audience, the
 * times and InResponseTo; Toolplane's own checks (checks.ts), single use of each assertion, and the session the
 * dashboard and the management API accept as they accept an OAuth access token.
 */
export class SamlSignIn {
  readonly settings: SamlSettings;
  readonly store: SamlStore;
  private readonly db: Db;

  constructor(settings: SamlSettings, deps: { db: Db; redis: RedisClient; prefix: string }) {
    this.settings = settings;
    this.db = deps.db;
    this.store = new SamlStore(deps.redis, deps.prefix);
  }

  /** The ACS URL: under PUBLIC_API_URL, else the origin the request came to. */
  acsUrl(origin: string): string {
    return `${this.settings.publicUrl ?? origin}/saml/acs`;
  }

  /** The library, for one ACS URL (it is cheap to make: options only). */
  saml(origin: string): SAML {
    const s = this.settings;
    return new SAML({
      issuer: s.spEntityId,
      audience: s.spEntityId,
      callbackUrl: this.acsUrl(origin),
      entryPoint: s.idpSsoUrl,
      idpCert: s.idpCerts,
      // The assertion's own signature is required, whether or not the response around it is signed.
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      // SP-initiated responses must answer a request this control plane sent; IdP-initiated ones carry no InResponseTo.
      validateInResponseTo: ValidateInResponseTo.ifPresent,
      requestIdExpirationPeriodMs: requestLifetimeMs,
      cacheProvider: this.store.requestCache(),
      acceptedClockSkewMs: 30_000,
      signatureAlgorithm: 'sha256',
      identifierFormat: null,
      disableRequestedAuthnContext: true,
    });
  }

  /** The identity provider's sign-in URL for a new AuthnRequest (its id kept for InResponseTo). */
  loginUrl(origin: string, returnTo: string): Promise<string> {
    return this.saml(origin).getAuthorizeUrlAsync(returnTo, undefined, {});
  }

  /** This service provider's metadata (entity id, ACS, assertions signed). */
  metadata(origin: string): string {
    return this.saml(origin).generateServiceProviderMetadata(null, null);
  }

  /** A posted SAMLResponse checked end to end: the session it opens (not stored yet), or a `SamlRefusal` saying why not. */
  async accept(origin: string, posted: unknown): Promise<{ session: SamlSession }> {
    const xml = responseXml(posted);
    let assertion: unknown;
    try {
      const { profile } = await this.saml(origin).validatePostResponseAsync({
        SAMLResponse: Buffer.from(xml, 'utf8').toString('base64'),
      });
      assertion = profile?.getAssertion?.();
    } catch (err) {
      throw new SamlRefusal(libraryReason(err), { cause: err });
    }
    const s = this.settings;
    const person = assertedPerson(assertion, {
      issuer: s.idpEntityId,
      acsUrl: this.acsUrl(origin),
      workspaceAttribute: s.workspaceAttribute,
      groupsAttribute: s.groupsAttribute,
    });
    if (!(await this.store.firstUse(person.assertionId, person.notOnOrAfter)))
      throw new SamlRefusal('the assertion was used already (replay)');
    const workspaceId = person.workspace;
    if (!workspaceId || !isUuid(workspaceId))
      throw new SamlRefusal(`the assertion's "${s.workspaceAttribute}" attribute names no workspace id`);
    if (!(await this.db.workspace.findUnique({ where: { id: workspaceId }, select: { id: true } })))
      throw new SamlRefusal(`the assertion's workspace ${workspaceId} does not exist`);
    const session: SamlSession = {
      workspaceId,
      subject: person.subject,
      groups: person.groups,
      scopes: apiKeyScopes.filter((x) => s.scopes.includes(x)),
      expiresAt: Date.now() + s.sessionMs,
    };
    return { session };
  }

  /** Whether a bearer token is a SAML session's (else it is for the OAuth issuer's verifier). */
  static owns(token: string): boolean {
    return token.startsWith(sessionTokenPrefix);
  }

  /**
   * The caller a SAML session token stands for, with its roles from the workspace's role mapping now (the groups
   * attribute stands where an OIDC token's groups claim would, and SCIM groups count the same way).
   */
  async verify(token: string): Promise<Caller> {
    const session = await this.store.session(token);
    if (!session) throw new AuthError('auth.invalid_token', 'the SAML session has expired or is unknown');
    if (!session.scopes.some((x) => opening.includes(x)))
      throw new AuthError('auth.forbidden', 'the SAML session has no "management" scope');
    const workspace = await this.db.workspace.findUnique({
      where: { id: session.workspaceId },
      select: { id: true, roleMapping: { select: { groupsClaim: true, assignments: true } } },
    });
    if (!workspace)
      throw new AuthError('auth.forbidden', `the session's workspace ${session.workspaceId} does not exist`);
    const mapping = (workspace.roleMapping ?? null) as RoleMappingSettings | null;
    const claims = { sub: session.subject, groups: session.groups };
    const scimGroups = mapping?.assignments.some((a) => 'group' in a)
      ? await scimGroupsOfPerson(this.db, session.workspaceId, session.subject, claims)
      : [];
    // The SAML groups attribute is the person's groups, whatever claim the mapping names for OIDC tokens.
    const roles = rolesOf(
      mapping && { ...mapping, groupsClaim: 'groups' },
      { subject: session.subject, claims, scimGroups },
      'groups',
    );
    return {
      workspaceId: session.workspaceId,
      subject: session.subject,
      principal: `user:${session.subject}`,
      scopes: session.scopes,
      roles,
      expiresAt: session.expiresAt,
      ...(session.groups.length > 0 ? { groups: session.groups } : {}),
    };
  }
}
