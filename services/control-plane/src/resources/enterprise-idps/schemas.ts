import { z } from 'zod';

/** Whether `url` is https, or http on a loopback address (a local IdP; the specification asks for TLS elsewhere). */
function isTlsOrLoopback(url: string): boolean {
  try {
    const u = new URL(url);
    if (u.protocol === 'https:') return true;
    return u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  } catch {
    return false;
  }
}

const SecureUrl = z
  .string()
  .max(2000)
  .refine(isTlsOrLoopback, 'must be an https URL (http only on a loopback address)');

const idpFields = {
  name: z.string().min(1).max(200).describe('The IdP configuration’s name in the workspace.'),
  issuer: SecureUrl.describe('The IdP’s issuer: the `iss` of the ID-JAGs it signs.'),
  jwksUrl: SecureUrl.describe('Where the IdP publishes its signing keys (JWKS).'),
  clientId: z
    .string()
    .min(1)
    .max(500)
    .describe(
      'The MCP client this configuration registers: the `client_id` its ID-JAGs name and the client the token ' +
        'request authenticates as (with the secret answered at creation).',
    ),
  userClaim: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('The ID-JAG claim naming the workspace’s external user (default `sub`).'),
};

export const CreateEnterpriseIdpBody = z.strictObject(idpFields);
export type CreateEnterpriseIdpBody = z.output<typeof CreateEnterpriseIdpBody>;

/** A change: the fields given replace the configuration’s; `rotateSecret` answers a new client secret. */
export const UpdateEnterpriseIdpBody = z.strictObject({
  name: idpFields.name.optional(),
  issuer: idpFields.issuer.optional(),
  jwksUrl: idpFields.jwksUrl.optional(),
  clientId: idpFields.clientId.optional(),
  userClaim: idpFields.userClaim,
  rotateSecret: z
    .boolean()
    .optional()
    .describe('true: a new client secret is made and answered once; the previous one stops working.'),
});
export type UpdateEnterpriseIdpBody = z.output<typeof UpdateEnterpriseIdpBody>;

export const EnterpriseIdpParams = z.object({ id: z.string().describe('The IdP configuration’s id.') });
