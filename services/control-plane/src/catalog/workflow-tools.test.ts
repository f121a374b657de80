import { describe, expect, it } from '@jest/globals';
import type { ToolStepPlan } from '@toolplane/contracts';
import type { WorkflowIR } from '@toolplane/workflow';
import { toolSourcesOf, type StoredReference } from '../documents/workflow-sources.ts';
import { workflowToolPlans } from './compile.ts';

/** The tools a workflow's steps call, compiled into its plan from the deployment's stored references (ADR 0039). */

const mcp = (tool: string): ToolStepPlan => ({
  name: tool,
  plan: { kind: 'mcp', server: 'orders', url: 'https://mcp.example/mcp', remoteTool: tool },
  serverId: 's2',
});

const step = (ref: string) => ({
  id: ref,
  target: { kind: 'tool' as const, ref, tool: ref },
  parameters: [],
  successCriteria: [],
  onSuccess: [],
  onFailure: [],
  outputs: [],
});

const workflow = (refs: string[]): WorkflowIR => ({
  id: 'w',
  inputSchema: { type: 'object' },
  dependsOn: [],
  steps: refs.map(step),
  outputs: [],
  secrets: [],
});

const references: StoredReference[] = [
  { location: 'petstore.yaml', content: {} },
  {
    location: 'toolplane:external_mcp_servers/orders',
    content: {},
    origin: 'tools',
    source: 'orders',
    tools: {
      'toolplane:external_mcp_servers/orders/tools/a': mcp('a'),
      'toolplane:external_mcp_servers/orders/tools/b': mcp('b'),
    },
  },
  { location: 'toolplane:tools', content: {}, origin: 'tools', tools: { 'toolplane:mcp_servers/x/tools/c': mcp('c') } },
];

describe('workflowToolPlans', () => {
  it('keeps the plans of the tools the workflows it may run call, by reference', () => {
    const plans = workflowToolPlans(references, [
      workflow(['toolplane:external_mcp_servers/orders/tools/a', 'toolplane:mcp_servers/x/tools/c']),
    ]);
    expect(Object.keys(plans ?? {})).toEqual([
      'toolplane:external_mcp_servers/orders/tools/a',
      'toolplane:mcp_servers/x/tools/c',
    ]);
  });

  it('none for workflows without tool steps', () => {
    expect(workflowToolPlans(references, [workflow([])])).toBeUndefined();
  });
});

describe('toolSourcesOf', () => {
  it("names the Arazzo sources whose documents are a server's tools (not Flower's tools reference)", () => {
    expect(toolSourcesOf(references)).toEqual(['orders']);
  });
});
