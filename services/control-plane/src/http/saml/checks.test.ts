import { describe, expect, it } from '@jest/globals';
import { assertedPerson, libraryReason, responseXml, returnPath, SamlRefusal } from './checks.ts';

const b64 = (xml: string) => Buffer.from(xml).toString('base64');
const expectations = {
  issuer: 'https://idp.test',
  acsUrl: 'https://tp.test/saml/acs',
  workspaceAttribute: 'toolplane_workspace',
  groupsAttribute: 'groups',
};

/** An assertion as @node-saml/node-saml's `getAssertion()` gives it (xml2js, prefixes stripped). */
function parsed(o: { issuer?: string; recipient?: string; notOnOrAfter?: string | null; id?: string | null } = {}) {
  return {
    Assertion: {
      $: o.id === null ? {} : { ID: o.id ?? '_a1' },
      Issuer: [{ _: o.issuer ?? 'https://idp.test' }],
      Subject: [
        {
          NameID: [{ _: ' rita@example.com ' }],
          SubjectConfirmation: [
            {
              $: { Method: 'urn:oasis:names:tc:SAML:2.0:cm:bearer' },
              SubjectConfirmationData: [{ $: { Recipient: o.recipient ?? 'https://tp.test/saml/acs' } }],
            },
          ],
        },
      ],
      Conditions: [{ $: o.notOnOrAfter === null ? {} : { NotOnOrAfter: o.notOnOrAfter ?? '2030-01-01T00:00:00Z' } }],
      AttributeStatement: [
        {
          Attribute: [
            { $: { Name: 'toolplane_workspace' }, AttributeValue: [{ _: 'w-1' }] },
            { $: { Name: 'groups' }, AttributeValue: [{ _: 'ops' }, { _: 'readers' }, 'ops'] },
          ],
        },
      ],
    },
  };
}

describe('responseXml', () => {
  it('refuses a document type declaration, internal or external entities, before parsing', () => {
    const xxe = '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>';
    expect(() => responseXml(b64(xxe))).toThrow('declares a document type');
    expect(() => responseXml(b64('<!doctype r><r/>'))).toThrow(SamlRefusal);
    expect(responseXml(b64('<r/>'))).toBe('<r/>');
  });

  it('refuses what is missing, not base64 or too large', () => {
    expect(() => responseXml(undefined)).toThrow('no SAMLResponse');
    expect(() => responseXml('<r/>')).toThrow('not base64');
    expect(() => responseXml('A'.repeat(300 * 1024))).toThrow('too large');
  });
});

describe('assertedPerson', () => {
  it('reads the subject, the workspace, the groups (each once), the id and the lifetime', () => {
    expect(assertedPerson(parsed(), expectations)).toEqual({
      assertionId: '_a1',
      notOnOrAfter: Date.parse('2030-01-01T00:00:00Z'),
      subject: 'rita@example.com',
      workspace: 'w-1',
      groups: ['ops', 'readers'],
    });
  });

  it('refuses another issuer, another recipient, no lifetime, no id', () => {
    expect(() => assertedPerson(parsed({ issuer: 'https://rogue.test' }), expectations)).toThrow(
      'another identity provider',
    );
    expect(() => assertedPerson(parsed({ recipient: 'https://tp.test/other' }), expectations)).toThrow(
      'another recipient',
    );
    expect(() => assertedPerson(parsed({ notOnOrAfter: null }), expectations)).toThrow('no NotOnOrAfter');
    expect(() => assertedPerson(parsed({ id: null }), expectations)).toThrow('no ID');
    expect(() => assertedPerson(undefined, expectations)).toThrow('no assertion');
  });
});

describe('returnPath and libraryReason', () => {
  it('keeps the person on this origin', () => {
    expect(returnPath('/servers?x=1')).toBe('/servers?x=1');
    expect(returnPath('//evil.test/')).toBe('/');
    expect(returnPath('https://evil.test/')).toBe('/');
    expect(returnPath('/\\evil.test')).toBe('/');
    expect(returnPath(undefined)).toBe('/');
  });

  it('names the check that failed without quoting the document', () => {
    expect(libraryReason(new Error('Invalid signature'))).toMatch(/signature is not accepted/);
    expect(libraryReason(new Error('SAML assertion expired: clocks skewed too much'))).toBe(
      'the assertion has expired',
    );
    expect(libraryReason(new Error('SAML assertion audience mismatch. Expected: a Received: <script>'))).toBe(
      'the assertion is for another audience',
    );
    expect(libraryReason(new Error('InResponseTo is not valid'))).toMatch(/no sign-in this control plane started/);
    expect(libraryReason(new Error('something else <x>'))).toBe('the SAML response is not valid');
  });
});
