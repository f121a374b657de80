import { describe, expect, it } from '@jest/globals';
import {
  approvalLinks,
  jsonNotification,
  notificationText,
  slackNotification,
  type NewApprovalRequest,
} from './notify-bodies.ts';

const id = '5f0c7a9e-3d1b-4c8e-9a2f-0b6d4e8c1a37';

function request(over: Partial<NewApprovalRequest['details']> = {}): NewApprovalRequest {
  return {
    id,
    workspaceId: '0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a',
    requesterName: 'agent-key',
    notify: [{ url: 'https://hooks.example.com/t0k3n', format: 'json' }],
    details: {
      approval: { id, binding: 'b1', expiresAt: '2026-11-28T10:00:00.000Z' },
      server: { id: '7c6b5a49-3827-4165-9504-f3e2d1c0b9a8', name: 'orders' },
      tool: 'delete_order',
      argumentsDigest: 'digest',
      arguments: { id: '42', passcode: '[masked]', note: 'a <b> & c' },
      requester: { keyId: 'key-1', person: 'alice' },
      rule: { version: 'v1', approvers: { apiKeys: ['key-2'], people: ['bob'] }, approvals: 2, expiresInSeconds: 3600 },
      ...over,
    },
  };
}

const links = approvalLinks('https://tp.example.com/', id);

describe('approval notification bodies', () => {
  it('link the request in the API and the dashboard', () => {
    expect(links).toEqual({
      api: `https://tp.example.com/api/v1/approvals/${id}`,
      dashboard: `https://tp.example.com/approvals?id=${id}`,
    });
  });

  it('json: the request, its masked arguments, who asked and who approves', () => {
    expect(jsonNotification(request(), links)).toEqual({
      type: 'approval.requested',
      id,
      workspaceId: '0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a',
      server: { id: '7c6b5a49-3827-4165-9504-f3e2d1c0b9a8', name: 'orders' },
      tool: 'delete_order',
      arguments: { id: '42', passcode: '[masked]', note: 'a <b> & c' },
      requester: { keyId: 'key-1', person: 'alice', name: 'agent-key' },
      approvers: { apiKeys: ['key-2'], people: ['bob'] },
      approvals: 2,
      expiresAt: '2026-11-28T10:00:00.000Z',
      links,
    });
    const huge = request({ arguments: { text: 'x'.repeat(40_000) } });
    expect(jsonNotification(huge, links).arguments).toBe('[too large: see links.api]');
    expect(notificationText('json', huge, links).length).toBeLessThan(64 * 1024);
  });

  it('slack: text and mrkdwn blocks: who asked, server and tool, masked arguments as code, expiry, links', () => {
    const body = slackNotification(request(), links);
    expect(body.text).toBe('Approval requested by alice: delete_order on orders');
    const texts = body.blocks.map((b) => ('text' in b ? b.text.text : b.elements[0]!.text));
    expect(texts[0]).toBe('*Approval requested* by *alice*\nServer `orders`, tool `delete_order`');
    expect(texts[1]).toContain('```{\n  "id": "42",\n  "passcode": "[masked]",');
    // mrkdwn's control characters are escaped, in the arguments too.
    expect(texts[1]).toContain('a &lt;b&gt; &amp; c');
    expect(texts[2]).toContain('Needs 2 approvals; expires <!date^1795860000^');
    expect(texts[2]).toContain(`<${links.dashboard}|Open in the dashboard> · <${links.api}|API>`);
    expect(texts[3]).toBe(`Request ${id}`);
    // Without a person, the key's name; a long argument list is cut within Slack's 3,000 characters.
    const long = request({ requester: { keyId: 'key-1' }, arguments: { text: 'y'.repeat(5_000) } });
    const cut = slackNotification(long, links);
    expect(cut.text).toContain('by agent-key');
    expect((cut.blocks[1] as { text: { text: string } }).text.text.length).toBeLessThan(3_000);
    expect(JSON.parse(notificationText('slack', long, links))).toEqual(cut);
  });
});
