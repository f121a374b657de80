import { describe, expect, it } from '@jest/globals';
import type { DesiredResource, LiveResource } from './kind.ts';
import { planChanges, type PlanOptions } from './plan.ts';

const opts: PlanOptions = { prune: false, provided: new Set(), mayGrant: () => true };

const desired = (kind: string, file: string, spec: Record<string, unknown>): DesiredResource => ({
  kind,
  name: String(spec.name ?? spec.server),
  file,
  spec,
});

const live = (kind: string, name: string): LiveResource => ({ kind, name, id: `${kind}-${name}`, spec: { name } });

// What each kind's file names by name (its `refers`): a name neither the files nor the workspace have is a problem of
// the plan at its path; one the files or the workspace have, or a policy's `*` (every server), is not.
describe('the resources a plan’s files name', () => {
  it('must each be in the files or the workspace, whatever the kind', () => {
    const resources = [
      desired('connector_instance', 'connector-instances/i.yaml', { name: 'i', connector: 'gone@1' }),
      desired('server', 'mcp-servers/s.yaml', {
        name: 's',
        connectorInstance: 'nope',
        externalMcpServers: [
          { name: 'here', tools: [] },
          { name: 'away', tools: [] },
        ],
        approvalTools: [],
        approvalRule: null,
        config: null,
      }),
      desired('workflow_deployment', 'deployments/ghost.yaml', { server: 'ghost' }),
      desired('api_key', 'api-keys/k.yaml', { name: 'k', scopes: ['management'], servers: ['s', 'lost'] }),
      desired('access_policy', 'access-policies/p.yaml', {
        name: 'p',
        principals: [
          { type: 'api_key', value: 'nobody' },
          { type: 'subject', value: 'someone' },
        ],
        servers: ['*', 'missing'],
        tools: ['*'],
      }),
      desired('quota', 'quotas/q.yaml', {
        name: 'q',
        match: { servers: ['s', 'elsewhere'], apiKeys: ['k'], people: ['stranger'] },
      }),
      desired('guardrail', 'guardrails/g.yaml', { name: 'g', server: null }),
    ];
    const plan = planChanges(
      { resources, problems: [] },
      { resources: [live('external_mcp_server', 'here')], ambiguous: [] },
      opts,
    );
    const at = (path: string, message: string) => ({ path, message: `${message} in the files or the workspace` });
    expect(plan.problems).toEqual([
      at('connector-instances/i.yaml#/connector', 'no connector "gone@1"'),
      at('mcp-servers/s.yaml#/connectorInstance', 'no connector instance "nope"'),
      at('mcp-servers/s.yaml#/externalMcpServers/1/name', 'no external MCP server "away"'),
      at('deployments/ghost.yaml#/server', 'no MCP server "ghost"'),
      at('api-keys/k.yaml#/servers/1', 'no MCP server "lost"'),
      at('access-policies/p.yaml#/servers/1', 'no MCP server "missing"'),
      at('access-policies/p.yaml#/principals/0/value', 'no API key "nobody"'),
      at('quotas/q.yaml#/match/servers/1', 'no MCP server "elsewhere"'),
      at('quotas/q.yaml#/match/people/0', 'no external user "stranger"'),
    ]);
  });
});
