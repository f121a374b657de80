import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { AuditEvent, AuditEventInput } from '@toolplane/contracts';
import { createLogger } from '@toolplane/logger';
import { AlertWebhooks, type AlertWebhookDeps } from './alert-webhooks.ts';

const quotaId = randomUUID();
const hookUrl = 'https://hooks.example.com/services/T0/B0/s3cr3t-token';

function alertEvent(over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: randomUUID(),
    chain: 'ws',
    seq: 1,
    at: '2026-11-27T10:00:00.000Z',
    workspaceId: randomUUID(),
    actor: { type: 'api_key', id: 'k', name: 'bootstrap' },
    action: 'quota.alert',
    resource: { type: 'quota', id: quotaId },
    outcome: 'success',
    status: null,
    source: { requestId: '1', traceId: null, clientAddress: null, userAgent: null },
    changes: null,
    details: {
      quota: { id: quotaId, name: 'five', counts: 'calls', limit: 5, enforce: true },
      threshold: 80,
      used: 4,
      period: '2026-11-27',
    },
    prevHash: '0',
    hash: '1',
    ...over,
  };
}

/** Fakes of the webhook's three ends: a quota with a webhook, a worker answering from `answers`, the trail. */
function harness(answers: { ok: boolean; error?: string }[], webhook: string | null = hookUrl) {
  const posts: { url: string; body: unknown }[] = [];
  const recorded: AuditEventInput[] = [];
  const logged: string[] = [];
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  const deps: AlertWebhookDeps = {
    quotaOf: async (_ws, id) => (id === quotaId ? { window: 'day', alertWebhookUrl: webhook } : null),
    post: async (url, body) => {
      posts.push({ url, body: JSON.parse(body) });
      const a = answers.shift() ?? { ok: false, error: 'HTTP 500' };
      if (a.ok) finished();
      return a;
    },
    record: async (e) => {
      recorded.push(e);
      finished();
    },
    log: createLogger({ service: 'test', level: 'info', destination: { write: (l: string) => logged.push(l) } }),
    waitsMs: [0, 0, 0],
  };
  return { hooks: new AlertWebhooks(deps), posts, recorded, logged, done };
}

describe('quota alert webhooks', () => {
  it('POSTs a stored alert to the quota’s webhook once it answers, after failed attempts', async () => {
    const h = harness([{ ok: false, error: 'HTTP 503' }, { ok: true }]);
    const event = alertEvent();
    h.hooks.notify(event);
    await h.done;
    expect(h.posts).toHaveLength(2);
    expect(h.posts[1]).toEqual({
      url: hookUrl,
      body: {
        type: 'quota.alert',
        eventId: event.id,
        workspaceId: event.workspaceId,
        quota: { id: quotaId, name: 'five' },
        threshold: 80,
        used: 4,
        limit: 5,
        counts: 'calls',
        window: 'day',
        period: '2026-11-27',
        at: event.at,
      },
    });
    expect(h.recorded).toEqual([]);
  });

  it('after the last attempt fails, logs and records it without the webhook’s path', async () => {
    const h = harness([]);
    const event = alertEvent();
    h.hooks.notify(event);
    await h.done;
    expect(h.posts).toHaveLength(4);
    expect(h.recorded).toMatchObject([
      {
        action: 'quota.alert_webhook_failed',
        outcome: 'failed',
        resource: { type: 'quota', id: quotaId },
        workspaceId: event.workspaceId,
        details: { alertEventId: event.id, origin: 'https://hooks.example.com', attempts: 4, error: 'HTTP 500' },
      },
    ]);
    expect(h.logged.join('')).toContain('quota alert webhook failed');
    expect(JSON.stringify(h.recorded) + h.logged.join('')).not.toContain('s3cr3t');
  });

  it('leaves other events, quotas without a webhook and deleted quotas alone', async () => {
    const h = harness([{ ok: true }], null);
    await h.hooks.deliver(alertEvent());
    await h.hooks.deliver(alertEvent({ details: { quota: { id: randomUUID(), name: 'gone' } } }));
    h.hooks.notify(alertEvent({ action: 'tool.quota_exceeded' }));
    expect(h.posts).toEqual([]);
  });

  it('drops what is still to be sent when stopped', async () => {
    const h = harness([{ ok: false, error: 'HTTP 503' }]);
    const hooks = new AlertWebhooks({
      quotaOf: async () => ({ window: 'day', alertWebhookUrl: hookUrl }),
      post: async () => {
        hooks.stop();
        return { ok: false, error: 'HTTP 503' };
      },
      record: async (e) => void h.recorded.push(e),
      log: createLogger({ service: 'test', level: 'silent' }),
      waitsMs: [60_000],
    });
    await hooks.deliver(alertEvent());
    expect(h.recorded).toEqual([]);
  });
});
