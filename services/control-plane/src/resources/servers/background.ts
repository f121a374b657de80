import type { ResourceBackground } from '../background.ts';
import { republishServerIdentity } from './identity.ts';

/** How often the catalog reconciler compares Redis with PostgreSQL. */
const CATALOG_RECONCILE_MS = 30_000;

/**
 * Servers: their catalogs (the catalog service) and identities republished, and the reconciler that publishes a
 * catalog committed but not published (Redis failed after the commit).
 */
export const serversBackground: ResourceBackground = ({ deps }) => {
  let reconciler: { stop(): Promise<void> } | undefined;
  return {
    async republish() {
      const catalogs = await deps.catalog.republishAll();
      await republishServerIdentity(deps.db, deps.redis, deps.prefix);
      return { catalogs };
    },
    serve() {
      reconciler = deps.catalog.startReconciler(CATALOG_RECONCILE_MS);
    },
    stop: () => reconciler?.stop(),
  };
};
