import type { ChangeAnswer, ReachTool } from '@toolplane/reachability';
import { reachabilityChange, type PrincipalFilter } from '@toolplane/reachability';
import { currentRules, proposedRules, type Rules } from '../backtest/rules.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { WorkspaceFile } from '../workspace-files/read-files.ts';

/**
 * Change impact (docs/governance.md "Who can reach what", ADR 0114): a proposed change written as the backtest takes
 * it (workspace files laid over the published rules, `backtest/rules.ts`), and what it lets through that the rules now
 * refuse, for any arguments and the session: the access document before and after, and the tool's marks (a server file's
 * `confirmTools`, `approvalTools`).
 */

/** The tool as a server's marks in `rules` have it (a server the rules say nothing of: as published). */
function marked(tool: ReachTool, serverId: string, rules: Rules): ReachTool {
  const confirm = rules.confirmTools.get(serverId);
  const approval = rules.approvalTools.get(serverId);
  const name = tool.tool.name;
  return {
    ...tool,
    ...(confirm ? { confirm: confirm.has(name) || undefined } : {}),
    ...(approval ? { approval: approval.has(name) ? (tool.approval ?? true) : undefined } : {}),
  };
}

interface ChangeTarget {
  readonly workspaceId: string;
  readonly server: { readonly serverId: string; readonly name: string };
  readonly tool: ReachTool;
  readonly principal: PrincipalFilter | undefined;
  readonly keyNames: Readonly<Record<string, string>>;
}

export async function changeImpact(
  deps: Pick<ControlPlaneDeps, 'db' | 'fetchDocument' | 'log'>,
  target: ChangeTarget,
  files: WorkspaceFile[],
): Promise<ChangeAnswer> {
  const current = await currentRules(deps.db, target.workspaceId);
  const proposed = await proposedRules(deps, target.workspaceId, current, files);
  const { serverId } = target.server;
  return reachabilityChange({
    server: target.server,
    principal: target.principal,
    keyNames: target.keyNames,
    before: { access: current.access, tool: marked(target.tool, serverId, current) },
    after: { access: proposed.access, tool: marked(target.tool, serverId, proposed) },
  });
}
