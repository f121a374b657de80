import type { ResourceBackground } from '../background.ts';
import { observeAuditExportLag } from '@toolplane/telemetry';
import type { Db } from '../../db/client.ts';
import { AuditExportDeliverer } from './deliverer.ts';

/**
 * Each enabled exporter's lag: the age of the oldest event after any of its cursors (the next one its receiver has
 * not acknowledged), 0 when every cursor is at its chain's end. One indexed lookup per cursor.
 */
async function exportLags(db: Db): Promise<{ exporter: string; seconds: number }[]> {
  const rows = await db.$queryRaw<{ exporter: string; seconds: number | null }[]>`
    SELECT c.exporter_id::text AS exporter,
           MAX(EXTRACT(EPOCH FROM (now() - e.at)))::float8 AS seconds
      FROM audit_export_cursors c
      JOIN audit_exporters x ON x.id = c.exporter_id AND x.enabled
      LEFT JOIN audit_events e ON e.chain = c.chain AND e.seq = c.seq + 1
     GROUP BY c.exporter_id`;
  return rows.map((r) => ({ exporter: r.exporter, seconds: Math.max(0, r.seconds ?? 0) }));
}

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
      observeAuditExportLag(() => exportLags(db));
    },
    stop: () => deliverer?.stop(),
  };
};
