import type { ResourceBackground } from '../background.ts';
import { AuditExportDeliverer } from './deliverer.ts';

/** The trail pushed to the workspaces' exporters, from PostgreSQL (ADR 0065), once the control plane serves. */
export const auditExportersBackground: ResourceBackground = ({ deps: { db, tasks, log, env } }) => {
  let deliverer: AuditExportDeliverer | undefined;
  return {
    serve() {
      deliverer = new AuditExportDeliverer({
        db,
        tasks,
        log,
        pollMs: env.AUDIT_EXPORT_POLL_MS,
        batch: env.AUDIT_EXPORT_BATCH,
        retryMaxMs: env.AUDIT_EXPORT_RETRY_MAX_MS,
        maxAttempts: env.AUDIT_EXPORT_MAX_ATTEMPTS,
      });
      deliverer.start();
    },
    stop: () => deliverer?.stop(),
  };
};
