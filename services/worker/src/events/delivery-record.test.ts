import { describe, expect, it } from '@jest/globals';
import { ExecutionRecordV1, type EventSubscription } from '@toolplane/contracts';
import { deliveryRecord } from './delivery-record.ts';

const sub: EventSubscription = {
  v: 1,
  id: 'sub_1',
  workspaceId: '00000000-0000-4000-8000-000000000001',
  serverId: '00000000-0000-4000-8000-000000000002',
  instanceId: '00000000-0000-4000-8000-000000000003',
  name: 'push',
  arguments: {},
  principal: { keyId: 'k1' },
  delivery: 'webhook',
  callback: { url: 'https://hooks.example:8443/in/receiver-token?sig=abc', secretSealed: 'sealed-secret' },
  createdAt: 0,
  expiresAt: 1,
};

describe('a webhook delivery’s execution record', () => {
  it('names the subscription and the eventId, counts the attempts, and keeps only the callback’s origin', () => {
    const attempts = Array.from({ length: 12 }, (_, i) => ({
      status: i < 11 ? 503 : 410,
      category: 'http_5xx' as string | undefined,
      startedAt: 1_000 + i * 100,
      durationMs: 10,
    }));
    attempts[11]!.category = 'http_4xx';
    const record = deliveryRecord(sub, { eventId: 'evt_1', name: 'push', attempts, taken: false });
    expect(ExecutionRecordV1.parse(record)).toBeDefined();
    expect(record).toMatchObject({
      tool: 'events/sub_1',
      caller: {},
      outcome: 'tool_error',
      errorCode: 'events.delivery_http_4xx',
      durationMs: 1_110,
    });
    // The last ten attempts, numbered as they were.
    expect(record.steps.map((s) => s.attempt)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(record.steps.every((s) => s.name === 'evt_1' && s.url === 'https://hooks.example:8443')).toBe(true);
    const text = JSON.stringify(record);
    for (const hidden of ['receiver-token', 'sig=abc', 'sealed-secret']) expect(text).not.toContain(hidden);
  });

  it('is a success once the callback took it, with no error code', () => {
    const attempts = [{ status: 204, category: undefined, startedAt: 5, durationMs: 3 }];
    const record = deliveryRecord(sub, { eventId: 'evt_2', name: 'push', attempts, taken: true });
    expect(record).toMatchObject({ outcome: 'success', steps: [{ status: 204, outcome: 'response', attempt: 1 }] });
    expect(record.errorCode).toBeUndefined();
  });
});
