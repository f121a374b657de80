import { randomBytes } from 'node:crypto';
import { ExecutionRecordStream } from '@toolplane/queue';
import { tracingEnabled } from '@toolplane/telemetry';
import type { ResourceBackground } from '../background.ts';
import { applyRetention } from './retention.ts';
import { announceStoredRecords, storeExecutionRecords, storeRawExecutionRecords } from './store.ts';

/**
 * Execution records from the workers' stream into PostgreSQL (on the records' own pool), announced after the commit
 * to every replica; their consumer group made again when Redis lost it; records, debug captures and ended sessions
 * past their retention deleted.
 */
export const executionRecordsBackground: ResourceBackground = ({ deps, ingestPool }) => {
  const { redis, prefix, log, env } = deps;
  const records = new ExecutionRecordStream({
    redis,
    prefix,
    consumer: `control-plane-${randomBytes(6).toString('hex')}`,
    // Announced after the commit: every replica's debug-session event streams then read them.
    store: async (batch) => announceStoredRecords(redis, prefix, await storeExecutionRecords(ingestPool, batch)),
    // The entries as the workers wrote them, read by PostgreSQL; while tracing is on, parsed (each record's storage is
    // a span of its call's trace).
    ...(tracingEnabled()
      ? {}
      : {
          storeRaw: async (entries: string[]) =>
            announceStoredRecords(redis, prefix, await storeRawExecutionRecords(ingestPool, entries)),
        }),
    onError: (err) => log.error({ err }, 'execution records could not be stored; retrying'),
    // PostgreSQL's data exceptions and integrity violations (SQLSTATE classes 22 and 23) are about a record itself:
    // such a record is set aside so that it cannot hold up the others; every other failure is retried.
    isPermanent: (err) => /^2[23]/.test(String((err as { code?: unknown } | null)?.code ?? '')),
    onDropped: (record, err) =>
      log.error(
        { err, invocationId: record.invocationId, serverId: record.serverId, tool: record.tool },
        'an execution record the database refuses was dropped',
      ),
  });
  return {
    start: () => records.start(),
    republish: async () => {
      await records.ensureGroup();
      return {};
    },
    retention: async (now) => ({
      deleted: await applyRetention(ingestPool, {
        now,
        recordsDays: env.RECORDS_RETENTION_DAYS,
        debugHours: env.DEBUG_RETENTION_HOURS,
      }),
    }),
    stop: () => records.stop(),
  };
};
