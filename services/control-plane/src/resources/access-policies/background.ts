import type { ResourceBackground } from '../background.ts';
import { republishAccess } from './publish.ts';

/**
 * Every workspace's policies republished. Listed before the servers' catalogs: a catalog must never be served without
 * its workspace's policies (edges fail closed without them, see services/edge/src/governance/access.ts).
 */
export const accessPoliciesBackground: ResourceBackground = ({ deps }) => ({
  republish: async () => ({ workspaces: await republishAccess(deps.db, deps.publisher) }),
});
