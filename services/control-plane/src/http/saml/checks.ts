// What Toolplane checks of a SAML response besides what @node-saml/node-saml checks (ADR 0083): the XML before the
// library parses it (no document type declaration at all: no entities, internal or external), and of the assertion
// the library verified: its issuer, its recipient, that it has a lifetime, its id (for replay refusal), and the
// attributes that name the workspace and the groups. Pure functions: the router runs them, checks.test.ts covers them.

/** A sign-in refused, with the reason shown to the person and recorded in the audit trail (never the XML itself). */
export class SamlRefusal extends Error {
  override readonly name = 'SamlRefusal';
}

/** The largest SAMLResponse accepted (base64, as posted): a response is a few kilobytes. */
const maxResponseChars = 256 * 1024;

/**
 * The response's XML, refused before any parser sees it when it is too large, is not base64, or declares a document
 * type: SAML never needs one, and a DTD is how entities (external ones read files or URLs, nested ones blow up in
 * memory) get in.
 */
export function responseXml(posted: unknown): string {
  if (typeof posted !== 'string' || posted === '') throw new SamlRefusal('the request carries no SAMLResponse');
  if (posted.length > maxResponseChars) throw new SamlRefusal('the SAMLResponse is too large');
  if (!/^[A-Za-z0-9+/=\r\n]+$/.test(posted)) throw new SamlRefusal('the SAMLResponse is not base64');
  const xml = Buffer.from(posted, 'base64').toString('utf8');
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml))
    throw new SamlRefusal('the SAMLResponse declares a document type (DTD or entities): refused');
  return xml;
}

/** An xml2js element as @node-saml/node-saml's `getAssertion()` gives it. */
type XmlNode = { $?: Record<string, string>; _?: string; [child: string]: unknown };

function children(node: XmlNode | undefined, name: string): XmlNode[] {
  const value = node?.[name];
  return Array.isArray(value) ? (value as XmlNode[]) : [];
}

function text(node: XmlNode | string | undefined): string | undefined {
  if (typeof node === 'string') return node;
  return typeof node?._ === 'string' ? node._ : undefined;
}

/** What a verified assertion says of the person, once Toolplane's own checks passed. */
export interface AssertedPerson {
  /** The assertion's `ID`: used once (replay refusal). */
  assertionId: string;
  /** When the assertion stops being valid (its `Conditions/@NotOnOrAfter`, epoch ms). */
  notOnOrAfter: number;
  /** The `NameID`: the person's subject, as role mappings name people. */
  subject: string;
  /** The workspace attribute's value (checked to exist by the caller). */
  workspace: string | undefined;
  groups: string[];
}

/**
 * Toolplane's checks of the assertion @node-saml/node-saml verified (its signature, audience, NotBefore and
 * NotOnOrAfter, InResponseTo): it names the configured identity provider as its issuer, a bearer subject
 * confirmation whose `Recipient` is this ACS, and a `NotOnOrAfter` in its conditions; it has an `ID` and a `NameID`.
 */
export function assertedPerson(
  assertion: unknown,
  expect: { issuer: string; acsUrl: string; workspaceAttribute: string; groupsAttribute: string },
): AssertedPerson {
  const root = (assertion as { Assertion?: XmlNode } | undefined)?.Assertion;
  if (!root) throw new SamlRefusal('the response has no assertion');
  const issuer = text(children(root, 'Issuer')[0]);
  if (issuer !== expect.issuer) throw new SamlRefusal('the assertion was issued by another identity provider');
  const assertionId = root.$?.ID;
  if (!assertionId) throw new SamlRefusal('the assertion has no ID');
  const subject = children(root, 'Subject')[0];
  const nameId = text(children(subject, 'NameID')[0])?.trim();
  if (!nameId) throw new SamlRefusal('the assertion names no subject (NameID)');
  const recipients = children(subject, 'SubjectConfirmation')
    .filter((c) => c.$?.Method === 'urn:oasis:names:tc:SAML:2.0:cm:bearer')
    .flatMap((c) => children(c, 'SubjectConfirmationData'))
    .map((d) => d.$?.Recipient);
  if (!recipients.includes(expect.acsUrl))
    throw new SamlRefusal('the assertion is for another recipient (its SubjectConfirmationData Recipient)');
  const notOnOrAfter = Date.parse(children(root, 'Conditions')[0]?.$?.NotOnOrAfter ?? '');
  if (Number.isNaN(notOnOrAfter)) throw new SamlRefusal('the assertion has no NotOnOrAfter condition');
  const attributes = new Map<string, string[]>();
  for (const statement of children(root, 'AttributeStatement'))
    for (const attribute of children(statement, 'Attribute')) {
      const name = attribute.$?.Name;
      if (!name) continue;
      const values = (Array.isArray(attribute.AttributeValue) ? (attribute.AttributeValue as XmlNode[]) : [])
        .map((v) => text(v)?.trim())
        .filter((v): v is string => v !== undefined && v !== '');
      attributes.set(name, [...(attributes.get(name) ?? []), ...values]);
    }
  return {
    assertionId,
    notOnOrAfter,
    subject: nameId,
    workspace: attributes.get(expect.workspaceAttribute)?.[0],
    groups: [...new Set(attributes.get(expect.groupsAttribute) ?? [])],
  };
}

/** Where to send the person after signing in: a path of the dashboard, never another origin. */
export function returnPath(relayState: unknown): string {
  if (typeof relayState !== 'string' || !relayState.startsWith('/') || relayState.startsWith('//')) return '/';
  if (relayState.length > 2048 || /[\\\s]/.test(relayState)) return '/';
  return relayState;
}

/**
 * The reason a failure of @node-saml/node-saml is shown as: its message names the check (signature, audience,
 * expiry, InResponseTo) and never quotes the document, except for the messages below, which are replaced.
 */
export function libraryReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/^Invalid signature|Invalid document signature|Cannot obtain assertion/.test(message)) {
    const detail =
      message.replace(/^Invalid signature:?\s*/i, '') || 'the assertion is not signed by the identity provider';
    return `the response's signature is not accepted (${detail})`;
  }
  if (/SAML assertion expired|NotOnOrAfter/i.test(message)) return 'the assertion has expired';
  if (/not yet valid|NotBefore/i.test(message)) return 'the assertion is not valid yet';
  if (/audience/i.test(message)) return 'the assertion is for another audience';
  if (/InResponseTo/i.test(message)) return 'the response answers no sign-in this control plane started';
  if (/SAML provider returned/i.test(message)) return 'the identity provider refused the sign-in';
  return 'the SAML response is not valid';
}
