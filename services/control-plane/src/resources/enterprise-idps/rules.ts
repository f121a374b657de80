import type { EnterpriseIdpRule } from '@toolplane/contracts';
import type { Db } from '../../db/client.ts';

/** The workspace's IdPs as the edges read them (with the access policies, ADR 0082). */
export async function enterpriseIdpRules(db: Db, workspaceId: string): Promise<EnterpriseIdpRule[]> {
  const rows = await db.enterpriseIdp.findMany({
    where: { workspaceId },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    issuer: r.issuer,
    jwksUrl: r.jwksUrl,
    clientId: r.clientId,
    clientSecretHash: r.clientSecretHash,
    userClaim: r.userClaim,
  }));
}
