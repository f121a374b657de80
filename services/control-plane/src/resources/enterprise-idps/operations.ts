import { z } from 'zod';
import { fourEyes } from '../change-requests/four-eyes.ts';
import type { Operation } from '../operation.ts';
import { rowOperations } from '../row-operations.ts';
import * as handlers from './handlers.ts';
import { CreateEnterpriseIdpBody, EnterpriseIdpParams, UpdateEnterpriseIdpBody } from './schemas.ts';

const EnterpriseIdp = z
  .strictObject({
    id: z.uuid(),
    name: z.string(),
    issuer: z.string(),
    jwksUrl: z.string(),
    clientId: z.string(),
    userClaim: z.string(),
    clientSecret: z
      .string()
      .optional()
      .describe('The registered client’s secret: only in the answer of a create, or of a change with `rotateSecret`.'),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'EnterpriseIdp' });

const rows = rowOperations({
  path: '/enterprise_idps',
  tags: ['enterprise-idps'],
  audit: 'enterprise_idp',
  one: 'EnterpriseIdp',
  many: 'EnterpriseIdps',
  noun: 'enterprise IdP',
  row: EnterpriseIdp,
  params: EnterpriseIdpParams,
  listId: 'EnterpriseIdpList',
});

/**
 * Enterprise-managed authorization (ADR 0082, docs/identity.md): the identity providers whose ID-JAGs the edges'
 * authorization server redeems for access tokens to this workspace's MCP servers, each with the MCP client it
 * registers. Each change is published to the edges with the workspace's access policies. Adding one, or changing what
 * its ID-JAGs are checked against, lets people in: with four eyes on loosening it waits for approval (ADR 0079).
 */
export const enterpriseIdpsOperations: Operation[] = fourEyes('enterprise_idp', [
  rows.create({
    summary: 'Register an enterprise IdP and an MCP client for it',
    description:
      'The edges accept this IdP’s ID-JAGs (`typ` `oauth-id-jag+jwt`, audience the edge’s issuer, `resource` a ' +
      'server of this workspace) at `POST <edge>/oauth/token` from the client `clientId`, which authenticates with ' +
      'the `clientSecret` of this answer (shown once). 409 for a name, or an issuer and client, already registered.',
    body: CreateEnterpriseIdpBody.meta({ id: 'CreateEnterpriseIdpBody' }),
    handler: handlers.createEnterpriseIdp,
  }),
  rows.list({
    summary: 'List the workspace’s enterprise IdPs',
    answer: 'The IdP configurations, oldest first (never a secret).',
    handler: handlers.listEnterpriseIdps,
  }),
  rows.get({ summary: 'Get an enterprise IdP', handler: handlers.getEnterpriseIdp }),
  rows.update({
    summary: 'Change an enterprise IdP (omitted fields are kept)',
    description: '`rotateSecret: true` answers a new client secret once; the previous one stops working.',
    body: UpdateEnterpriseIdpBody.meta({ id: 'UpdateEnterpriseIdpBody' }),
    handler: handlers.updateEnterpriseIdp,
  }),
  rows.delete({
    summary: 'Remove an enterprise IdP (its ID-JAGs are refused at once)',
    handler: handlers.deleteEnterpriseIdp,
  }),
]);
