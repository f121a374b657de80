import { recordCachedCall } from '../calls/result-cache.ts';
import type { Stage } from './stage.ts';

/**
 * Results of cacheable tools (ADR 0067), after the quota stage (a cached answer is charged as any call): a fresh
 * result of the same call answers it (recorded as `cached`), else the job carries the hint the worker stores its
 * result under. Not for a call someone approves, a task's, a multi-round retry, or one sent with the caller's own
 * upstream credential (which the key does not name). Only tools with a cache setting have this stage.
 */
export const cacheStage: Stage = {
  name: 'cache',
  appliesTo: (tool) => tool.rules.cache !== undefined,
  async run(s) {
    const { deps, call, tool, invocationId } = s;
    const ownCredential = tool.rules.upstreamCredential && call.request.upstreamAuthorization !== undefined;
    // A twin call neither reads nor writes production's cache (ADR 0112).
    if (!deps.resultCache || s.governed || call.task || call.multiRound || ownCredential || call.principal.twin)
      return undefined;
    const cache = tool.rules.cache!;
    const { catalog } = call.loaded;
    const facts = {
      principal: call.principal,
      serverId: catalog.serverId,
      catalogVersion: catalog.version,
      tool: tool.def.name,
    };
    const started = performance.now();
    // What names a call's cached result: the arguments as sent (after guardrails on arguments), the caller.
    const found = await deps.resultCache!.lookUp({ ...facts, arguments: call.arguments, scope: cache.scope }, cache);
    if (!('hit' in found)) {
      if (found.hint) s.rules.cache = found.hint;
      return undefined;
    }
    const recorded = {
      ...facts,
      parentInvocationId: call.parentInvocationId,
      ...(tool.rules.cost !== undefined ? { cost: tool.rules.cost } : {}),
    };
    recordCachedCall(deps.records, recorded, invocationId, performance.now() - started);
    return { answered: found.hit };
  },
};
