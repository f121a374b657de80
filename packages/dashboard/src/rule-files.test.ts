import { describe, expect, it } from '@jest/globals';
import { confirmationsFile, guardrailFile, namesOf, policyFile, quotaFile, sessionFile } from './rule-files.ts';

const names = namesOf({
  servers: [{ id: 's-1', name: 'support' }],
  apiKeys: [
    { id: 'k-1', name: 'agent' },
    { id: 'k-2', name: 'lead' },
  ],
});
const parsed = (f: { content: string }) => JSON.parse(f.content) as unknown;

// That the files agree with what an export writes of the same rule saved: tests/e2e/dashboard/dashboard-admin.test.ts
// plans each one against the saved rule and sees nothing to change.
describe('a rule editor’s body as a workspace file', () => {
  it('names a policy’s key principals, servers and approvers; leaves other principals, `*` and unknown ids', () => {
    const f = policyFile(
      {
        name: 'agents',
        principals: [
          { type: 'api_key', value: 'k-1' },
          { type: 'oauth_group', value: 'ops' },
        ],
        servers: ['s-1', 's-gone'],
        tools: ['get_ticket'],
        condition: 'args.ticket_id == "T-1"',
        onFalse: 'require_approval',
        approval: { approvers: { apiKeys: ['k-2'], people: ['ana'] }, approvals: 1 },
      },
      names,
    );
    expect(f.path).toBe('access-policies/agents.yaml');
    expect(parsed(f)).toEqual({
      name: 'agents',
      principals: [
        { type: 'api_key', value: 'agent' },
        { type: 'oauth_group', value: 'ops' },
      ],
      servers: ['support', 's-gone'],
      tools: ['get_ticket'],
      condition: 'args.ticket_id == "T-1"',
      onFalse: 'require_approval',
      approval: { approvers: { apiKeys: ['lead'], people: ['ana'] }, approvals: 1 },
    });
    expect(parsed(policyFile({ name: 'all', principals: [], servers: ['*'], tools: ['*'] }, names))).toMatchObject({
      servers: ['*'],
    });
  });

  it('names a quota’s servers and keys in its match, keeping the rest of the body', () => {
    const body = {
      name: 'per-key',
      counts: 'calls' as const,
      limit: 3,
      window: 'hour' as const,
      per: 'api_key' as const,
      match: { tools: ['get_*'], servers: ['s-1'], apiKeys: ['k-1'] },
      enforce: false,
    };
    const f = quotaFile(body, names);
    expect(f.path).toBe('quotas/per-key.yaml');
    expect(parsed(f)).toEqual({ ...body, match: { tools: ['get_*'], servers: ['support'], apiKeys: ['agent'] } });
    expect(parsed(quotaFile({ ...body, match: {} }, names))).toMatchObject({ match: {} });
  });

  it('writes a guardrail’s server by name, or null for every server', () => {
    const body = {
      name: 'no-secrets',
      serverId: 's-1',
      tools: ['get_ticket'],
      detectors: [{ kind: 'secrets' as const }],
      action: 'block' as const,
      on: ['arguments' as const],
      enforce: true,
    };
    const { serverId: _serverId, ...rest } = body;
    expect(parsed(guardrailFile(body, names))).toEqual({ ...rest, server: 'support' });
    expect(parsed(guardrailFile({ ...body, serverId: null, tools: [] }, names))).toMatchObject({ server: null });
    expect(guardrailFile(body, names).path).toBe('guardrails/no-secrets.yaml');
  });

  it('writes the session settings to session.yaml, each approval’s keys by name', () => {
    const rule = {
      id: 'no-leak',
      after: ['untrusted' as const],
      toolLabels: ['public_write' as const],
      action: 'require_approval' as const,
      approval: { approvers: { apiKeys: ['k-2'] }, approvals: 1 },
      enforce: true,
    };
    const f = sessionFile(
      { ttlSeconds: 600, rules: [rule, { ...rule, id: 'plain', action: 'refuse', approval: undefined }] },
      names,
    );
    expect(f.path).toBe('session.yaml');
    expect(parsed(f)).toEqual({
      ttlSeconds: 600,
      rules: [
        { ...rule, approval: { approvers: { apiKeys: ['lead'] }, approvals: 1 } },
        { ...rule, id: 'plain', action: 'refuse', approval: undefined },
      ].map((r) => JSON.parse(JSON.stringify(r))),
    });
    expect(f.content.endsWith('\n')).toBe(true);
  });

  it('writes a server’s file with its name and the tools a person confirms, all a backtest judges of it', () => {
    const f = confirmationsFile('support', ['create_ticket']);
    expect(f.path).toBe('mcp-servers/support.yaml');
    expect(parsed(f)).toEqual({ name: 'support', confirmTools: ['create_ticket'] });
  });
});
