import { createHash, randomBytes } from 'node:crypto';
import { ValidationError } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import type { EnterpriseIdp } from '../../generated/prisma/client.ts';
import { publishWorkspaceAccess } from '../access-policies/publish.ts';
import { applyingApproved } from '../change-requests/four-eyes.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { given, workspaceRows } from '../rows.ts';
import type { CreateEnterpriseIdpBody, UpdateEnterpriseIdpBody } from './schemas.ts';

/** A row as answered: never the secret's digest (the secret itself only in the answer that made it). */
function present(row: EnterpriseIdp) {
  return {
    id: row.id,
    name: row.name,
    issuer: row.issuer,
    jwksUrl: row.jwksUrl,
    clientId: row.clientId,
    userClaim: row.userClaim,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const idpRows = workspaceRows((db) => db.enterpriseIdp, { what: 'enterprise IdP', one: 'an IdP' }, present);

/** A new client secret and the digest the edges compare with (SHA-256: the secret is 256 random bits). */
function newSecret(): { secret: string; hash: string } {
  const secret = `tpidp_${randomBytes(32).toString('base64url')}`;
  return { secret, hash: createHash('sha256').update(secret).digest('hex') };
}

/**
 * The client secret for the answer: none when the change is an approved one applied (four eyes on loosening, ADR 0079):
 * that answer goes to the approver and is kept with the change request's decision; the requester rotates the secret
 * (`rotateSecret` alone lets no one new in and applies at once).
 */
const shown = (secret: string) => (applyingApproved() ? {} : { clientSecret: secret });

/** 409 for a name, or an issuer and client pair, another configuration (not `except`) has. */
async function refuseTaken(
  db: Db,
  workspaceId: string,
  idp: { name: string; issuer: string; clientId: string },
  except?: string,
) {
  await idpRows.refuseTakenName(db, workspaceId, idp.name, except);
  const same = await db.enterpriseIdp.findFirst({
    where: { workspaceId, issuer: idp.issuer, clientId: idp.clientId, ...(except ? { id: { not: except } } : {}) },
    select: { name: true },
  });
  if (same)
    throw new ValidationError(
      'the enterprise IdP is invalid',
      [{ path: '/clientId', message: `"${same.name}" already registers client "${idp.clientId}" of this issuer` }],
      'resource.conflict',
      409,
    );
}

/** `POST /enterprise_idps`: the configuration, published to the edges; its client secret answered once. */
export async function createEnterpriseIdp(
  { db, publisher }: ControlPlaneDeps,
  { body, caller }: Input<CreateEnterpriseIdpBody>,
) {
  const { workspaceId } = caller;
  await refuseTaken(db, workspaceId, body);
  const { secret, hash } = newSecret();
  const row = await db.enterpriseIdp.create({
    data: {
      workspaceId,
      name: body.name,
      issuer: body.issuer,
      jwksUrl: body.jwksUrl,
      clientId: body.clientId,
      clientSecretHash: hash,
      userClaim: body.userClaim ?? 'sub',
    },
  });
  await publishWorkspaceAccess(db, publisher, workspaceId);
  return { ...present(row), ...shown(secret) };
}

/** `GET /enterprise_idps`: oldest first. */
export const listEnterpriseIdps = idpRows.list;

/** `GET /enterprise_idps/{id}`. */
export const getEnterpriseIdp = idpRows.get;

/** `PATCH /enterprise_idps/{id}`: the fields given replace the row's; `rotateSecret` answers a new secret. */
export async function updateEnterpriseIdp(
  { db, publisher }: ControlPlaneDeps,
  { body, params, caller }: Input<UpdateEnterpriseIdpBody>,
) {
  const { workspaceId } = caller;
  const row = await idpRows.byId(db, workspaceId, params.id!);
  await refuseTaken(
    db,
    workspaceId,
    { name: body.name ?? row.name, issuer: body.issuer ?? row.issuer, clientId: body.clientId ?? row.clientId },
    row.id,
  );
  const rotated = body.rotateSecret ? newSecret() : undefined;
  const updated = await db.enterpriseIdp.update({
    where: { id: row.id },
    data: {
      ...given(body, 'name', 'issuer', 'jwksUrl', 'clientId', 'userClaim'),
      ...(rotated ? { clientSecretHash: rotated.hash } : {}),
    },
  });
  await publishWorkspaceAccess(db, publisher, workspaceId);
  return { ...present(updated), ...(rotated ? shown(rotated.secret) : {}) };
}

/** `DELETE /enterprise_idps/{id}`: its ID-JAGs are refused at once (tokens already issued live out their minutes). */
export async function deleteEnterpriseIdp({ db, publisher }: ControlPlaneDeps, { params, caller }: Input) {
  const row = await idpRows.byId(db, caller.workspaceId, params.id!);
  await db.enterpriseIdp.delete({ where: { id: row.id } });
  await publishWorkspaceAccess(db, publisher, caller.workspaceId);
}
