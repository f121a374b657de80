import { randomBytes } from 'node:crypto';
import { AuditEventInput, redisKeys } from '@toolplane/contracts';
import { ExecutionRecordStream } from '@toolplane/queue';
import { alertWebhooksFor } from '../../documents/alert-webhooks.ts';
import { approvalChange } from '../approvals/ingest.ts';
import { approvalNotifierFor } from '../approvals/notify.ts';
import type { ResourceBackground } from '../background.ts';

/**
 * Audit events the edges decided (refused calls, people's confirmations, quota alerts, approval requests), appended to
 * their workspace's chain; a quota alert, once stored, goes to the quota's webhook, a new approval request to its
 * rule's webhooks (neither waited for).
 */
export const auditEventsBackground: ResourceBackground = ({ deps }) => {
  const { redis, prefix, log, trail } = deps;
  const alerts = alertWebhooksFor(deps);
  const approvals = approvalNotifierFor(deps);
  const events = new ExecutionRecordStream<AuditEventInput>({
    redis,
    prefix,
    consumer: `control-plane-${randomBytes(6).toString('hex')}`,
    stream: {
      key: redisKeys(prefix).auditEvents,
      parse: (raw) => {
        const parsed = AuditEventInput.safeParse(raw);
        return parsed.success ? parsed.data : undefined;
      },
    },
    // One by one, in order; an event stored already (delivered again) is skipped by its id.
    store: async (batch) => {
      // An edge's approval event makes or moves its request's row in the same transaction (ADR 0049).
      for (const event of batch) {
        const approval = approvalChange(event);
        const stored = await trail.appendAlone(event, approval?.change);
        if (stored) alerts.notify(stored);
        const request = approval?.created();
        if (request) approvals.notify(request);
      }
    },
    onError: (err) => log.error({ err }, 'audit events could not be stored; retrying'),
  });
  return {
    start: () => events.start(),
    async stop() {
      await events.stop();
      alerts.stop();
      approvals.stop();
    },
  };
};
