import { z } from 'zod';
import { looseningOf } from '../change-requests/workspace-file-loosening.ts';
import { byName, liveRows, markerOnly, run, withDefault, type WorkspaceFileKind } from '../workspace-files/kind.ts';
import { enterpriseIdpsOperations } from './operations.ts';
import { CreateEnterpriseIdpBody } from './schemas.ts';

/**
 * An enterprise IdP's file (ADR 0082): the API's create body (`POST /enterprise_idps`), `userClaim` written out with
 * the API's default (`sub`). Never the client secret: an IdP a file creates gets one that is shown to nobody; rotate it
 * with `PATCH /enterprise_idps/{id}` (`rotateSecret: true`) to hand it to the client.
 */
const IdpSpec = z.strictObject({
  ...CreateEnterpriseIdpBody.shape,
  userClaim: withDefault('userClaim', CreateEnterpriseIdpBody.shape.userClaim, { userClaim: 'sub' }),
});

export const enterpriseIdpFiles: WorkspaceFileKind = {
  kind: 'enterprise_idp',
  ...looseningOf('enterprise_idp'),
  dir: 'enterprise-idps',
  schema: IdpSpec,
  async live(ctx) {
    const rows = await ctx.deps.db.enterpriseIdp.findMany(byName(ctx));
    return liveRows(ctx, 'enterprise_idp', rows, (r) => ({
      name: r.name,
      issuer: r.issuer,
      jwksUrl: r.jwksUrl,
      clientId: r.clientId,
      userClaim: r.userClaim,
    }));
  },
  write(c) {
    if (markerOnly(c)) return undefined;
    const body = c.desired!.spec;
    if (c.action === 'create') return run(enterpriseIdpsOperations, 'createEnterpriseIdp', { body });
    return run(enterpriseIdpsOperations, 'updateEnterpriseIdp', { params: { id: c.live!.id }, body });
  },
  remove: (c) => run(enterpriseIdpsOperations, 'deleteEnterpriseIdp', { params: { id: c.live!.id } }),
};
