import { describe, expect, it } from '@jest/globals';
import { createLogger } from '@toolplane/logger';
import { ApprovalNotifier } from './notify.ts';
import type { NewApprovalRequest } from './notify-bodies.ts';

const id = '5f0c7a9e-3d1b-4c8e-9a2f-0b6d4e8c1a37';
const slackUrl = 'https://hooks.slack.example/services/T0/B0/s3cr3t-token';

const request: NewApprovalRequest = {
  id,
  workspaceId: '0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a',
  requesterName: 'agent',
  notify: [
    { url: 'https://hooks.example.com/approvals', format: 'json' },
    { url: slackUrl, format: 'slack' },
  ],
  details: {
    approval: { id, binding: 'b', expiresAt: '2026-11-28T10:00:00.000Z' },
    server: { id: '7c6b5a49-3827-4165-9504-f3e2d1c0b9a8', name: 'orders' },
    tool: 'delete_order',
    argumentsDigest: 'd',
    arguments: { id: '42' },
    requester: { keyId: 'k' },
    rule: { version: 'v', approvers: { apiKeys: ['a'] }, approvals: 1, expiresInSeconds: 60 },
  },
};

describe('the approval notifier', () => {
  it('POSTs each webhook its body; a failure is tried again, then logged by origin only; nothing throws', async () => {
    const posts: { url: string; body: Record<string, unknown> }[] = [];
    const logged: string[] = [];
    let settled!: () => void;
    const done = new Promise<void>((r) => (settled = r));
    const notifier = new ApprovalNotifier({
      post: async (url, body) => {
        posts.push({ url, body: JSON.parse(body) as Record<string, unknown> });
        if (url === slackUrl) throw new Error('queue unavailable');
        return { ok: true };
      },
      publicUrl: 'https://tp.example.com',
      log: createLogger({
        service: 'test',
        level: 'debug',
        destination: {
          write: (line: string) => {
            logged.push(line);
            if (line.includes('approval notification failed')) settled();
          },
        },
      }),
      waitsMs: [0, 0],
    });
    notifier.notify(request);
    await done;
    expect(posts.filter((p) => p.url === slackUrl)).toHaveLength(3);
    const json = posts.filter((p) => p.url !== slackUrl);
    expect(json).toHaveLength(1);
    expect(json[0]!.body).toMatchObject({ type: 'approval.requested', id, tool: 'delete_order' });
    expect(posts.find((p) => p.url === slackUrl)!.body).toHaveProperty('blocks');
    const failed = JSON.parse(logged.find((l) => l.includes('approval notification failed'))!) as Record<
      string,
      unknown
    >;
    expect(failed).toMatchObject({
      approvalId: id,
      origin: 'https://hooks.slack.example',
      attempts: 3,
      format: 'slack',
    });
    expect(logged.join('\n')).not.toContain('s3cr3t-token');
    notifier.stop();
    notifier.notify(request);
    expect(posts).toHaveLength(4);
  });
});
