import { externalListerFor } from '../../catalog/service.ts';
import type { ResourceBackground } from '../background.ts';
import { startExternalToolsRefresher } from './refresh.ts';

/**
 * External MCP servers' tool lists re-listed every EXTERNAL_TOOLS_REFRESH_SECONDS (0: never), once the control plane
 * serves (docs/architecture.md, "External MCP servers").
 */
export const externalMcpServersBackground: ResourceBackground = ({ deps }) => {
  let refresher: ReturnType<typeof startExternalToolsRefresher> | undefined;
  return {
    serve() {
      const { env, db, catalog, tasks, log, redis, prefix, changeWebhooks } = deps;
      if (env.EXTERNAL_TOOLS_REFRESH_SECONDS <= 0) return;
      refresher = startExternalToolsRefresher({
        db,
        catalog,
        listExternal: externalListerFor(tasks),
        changeWebhooks,
        log,
        redis,
        prefix,
        intervalMs: Math.round(env.EXTERNAL_TOOLS_REFRESH_SECONDS * 1000),
      });
    },
    stop: () => refresher?.stop(),
  };
};
