// A local SAML 2.0 identity provider for the tests (ADR 0083, docs/identity.md "SAML sign-in"): an HTTP server that
// reads AuthnRequests and signs assertions with xml-crypto (RSA-SHA256) and a self-signed certificate from openssl.
// Its builders write assertions and responses as an identity provider does, each field changeable to make a wrong one.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { freePort } from '@toolplane/embedded';
import { SignedXml } from 'xml-crypto';
import { tempDir } from './stack.ts';

const samlIdpEntityId = 'https://idp.saml.test/metadata';
export const samlSpEntityId = 'https://toolplane.saml.test/sp';

interface SamlPerson {
  subject: string;
  groups: string[];
}

/** What the identity provider reads when it writes: known only once the stack runs, hence functions. */
interface SamlContext {
  /** The control plane's ACS (`<PUBLIC_API_URL>/saml/acs`). */
  acsUrl: () => string;
  /** The workspace the people sign in to (the `toolplane_workspace` attribute). */
  workspaceId: () => string;
  /** The person signed in when an assertion names none. */
  person: () => SamlPerson;
}

interface AssertionOptions {
  id?: string;
  subject?: string;
  groups?: string[];
  audience?: string;
  recipient?: string;
  inResponseTo?: string;
  notOnOrAfter?: string;
  issuer?: string;
}

export interface SamlIdp {
  server: Server;
  /** Where it listens (`/sso` takes AuthnRequests). */
  url: string;
  key: string;
  cert: string;
  /** An assertion as an identity provider writes it (unsigned). */
  assertion: (o?: AssertionOptions) => string;
  /** The assertion signed (enveloped, exclusive c14n, RSA-SHA256; the Signature after Issuer). */
  signed: (xml: string) => string;
  /** The whole Response signed (its assertions as they are). */
  signedResponse: (xml: string) => string;
  /** A Response around assertions (none signed at this level, as many identity providers do). */
  response: (assertions: string, o?: { inResponseTo?: string; prolog?: string }) => string;
  /** The control-plane settings that trust this identity provider (SAML_*). */
  env: () => Record<string, string>;
  close: () => Promise<void>;
}

/** An RSA key and a self-signed certificate for the identity provider (openssl). */
function signingIdentity(): { key: string; cert: string } {
  const dir = tempDir('saml-idp');
  const key = join(dir, 'idp.key');
  const cert = join(dir, 'idp.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=saml-idp.test'],
      ...['-keyout', key, '-out', cert],
    ],
    { stdio: 'pipe' },
  );
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

const ns = 'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"';
export const iso = (offsetMs: number): string => new Date(Date.now() + offsetMs).toISOString();

function writeAssertion(ctx: SamlContext, o: AssertionOptions): string {
  const inResponseTo = o.inResponseTo ? ` InResponseTo="${o.inResponseTo}"` : '';
  const until = o.notOnOrAfter ?? iso(5 * 60_000);
  const person = ctx.person();
  const values = (o.groups ?? person.groups).map((g) => `<saml:AttributeValue>${g}</saml:AttributeValue>`).join('');
  return (
    `<saml:Assertion ${ns} ID="${o.id ?? `_a${randomUUID()}`}" Version="2.0" IssueInstant="${iso(0)}">` +
    `<saml:Issuer>${o.issuer ?? samlIdpEntityId}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${o.subject ?? person.subject}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
    `<saml:SubjectConfirmationData NotOnOrAfter="${until}" Recipient="${o.recipient ?? ctx.acsUrl()}"${inResponseTo}/>` +
    `</saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${iso(-60_000)}" NotOnOrAfter="${until}">` +
    `<saml:AudienceRestriction><saml:Audience>${o.audience ?? samlSpEntityId}</saml:Audience></saml:AudienceRestriction>` +
    `</saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${iso(0)}" SessionIndex="_s1"><saml:AuthnContext>` +
    `<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>` +
    `</saml:AuthnContext></saml:AuthnStatement>` +
    `<saml:AttributeStatement>` +
    `<saml:Attribute Name="toolplane_workspace"><saml:AttributeValue>${ctx.workspaceId()}</saml:AttributeValue></saml:Attribute>` +
    `<saml:Attribute Name="groups">${values}</saml:Attribute>` +
    `</saml:AttributeStatement></saml:Assertion>`
  );
}

/** `xml` with an enveloped signature over its root element `root` (placed after the root's Issuer). */
function sign(identity: { key: string; cert: string }, xml: string, root: 'Assertion' | 'Response'): string {
  const sig = new SignedXml({
    privateKey: identity.key,
    publicCert: identity.cert,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath: `/*[local-name(.)='${root}']`,
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
  });
  sig.computeSignature(xml, {
    location: { reference: `/*[local-name(.)='${root}']/*[local-name(.)='Issuer']`, action: 'after' },
  });
  return sig.getSignedXml();
}

function writeResponse(ctx: SamlContext, assertions: string, o: { inResponseTo?: string; prolog?: string }): string {
  const inResponseTo = o.inResponseTo ? ` InResponseTo="${o.inResponseTo}"` : '';
  return (
    (o.prolog ?? '') +
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ${ns} ID="_r${randomUUID()}" Version="2.0"` +
    ` IssueInstant="${iso(0)}" Destination="${ctx.acsUrl()}"${inResponseTo}>` +
    `<saml:Issuer>${samlIdpEntityId}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
    assertions +
    `</samlp:Response>`
  );
}

/** The page `/sso` answers an AuthnRequest with: a form that posts the signed response to the ACS. */
function ssoPage(idp: SamlIdp, url: URL, acsUrl: string): string | undefined {
  let request = '';
  try {
    request = inflateRawSync(Buffer.from(url.searchParams.get('SAMLRequest') ?? '', 'base64')).toString();
  } catch {
    // not an AuthnRequest (a favicon): answered by the caller
  }
  const id = /\sID="([^"]+)"/.exec(request)?.[1];
  const acs = /AssertionConsumerServiceURL="([^"]+)"/.exec(request)?.[1];
  if (url.pathname !== '/sso' || !id || acs !== acsUrl) return undefined;
  const body = Buffer.from(idp.response(idp.signed(idp.assertion({ inResponseTo: id })), { inResponseTo: id }));
  const relay = (url.searchParams.get('RelayState') ?? '').replace(/"/g, '&quot;');
  return (
    `<!doctype html><html lang="en"><title>IdP</title><form method="post" action="${acs}">` +
    `<input type="hidden" name="SAMLResponse" value="${body.toString('base64')}"><input type="hidden" name="RelayState" value="${relay}">` +
    `<button type="submit">Continue to Toolplane</button></form></html>`
  );
}

/** Starts the local identity provider on 127.0.0.1. */
export async function startSamlIdp(ctx: SamlContext): Promise<SamlIdp> {
  const port = await freePort();
  const identity = signingIdentity();
  const url = `http://127.0.0.1:${port}`;
  const server = createServer((req, res) => {
    const page = ssoPage(idp, new URL(req.url ?? '/', 'http://idp'), ctx.acsUrl());
    if (page === undefined) res.writeHead(400).end('not an AuthnRequest of this test');
    else res.writeHead(200, { 'content-type': 'text/html' }).end(page);
  });
  const idp: SamlIdp = {
    server,
    url,
    ...identity,
    assertion: (o = {}) => writeAssertion(ctx, o),
    signed: (xml) => sign(identity, xml, 'Assertion'),
    signedResponse: (xml) => sign(identity, xml, 'Response'),
    response: (assertions, o = {}) => writeResponse(ctx, assertions, o),
    env: () => ({
      SAML_IDP_ENTITY_ID: samlIdpEntityId,
      SAML_IDP_SSO_URL: `${url}/sso`,
      SAML_IDP_CERT: identity.cert,
      SAML_SP_ENTITY_ID: samlSpEntityId,
    }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return idp;
}

/**
 * Signs `person` in as the identity provider would on its own (IdP-initiated: a signed response posted to the ACS),
 * then redeems the one-time code as the dashboard does: the `tps_` session token of the management API.
 */
export async function samlSignIn(idp: SamlIdp, controlPlaneUrl: string, person: SamlPerson): Promise<string> {
  const xml = idp.response(idp.signed(idp.assertion(person)));
  const form = new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64') });
  const acs = await fetch(`${controlPlaneUrl}/saml/acs`, { method: 'POST', body: form, redirect: 'manual' });
  const location = new URL(acs.headers.get('location') ?? '', controlPlaneUrl);
  const code = location.searchParams.get('code');
  if (!code)
    throw new Error(`the SAML sign-in of ${person.subject} was refused: ${location.searchParams.get('error')}`);
  const res = await fetch(`${controlPlaneUrl}/saml/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  const { access_token } = (await res.json()) as { access_token?: string };
  if (res.status !== 200 || !access_token) throw new Error(`the sign-in code of ${person.subject}: ${res.status}`);
  return access_token;
}
