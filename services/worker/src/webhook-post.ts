import type { PostWebhookJob, PostWebhookResult } from '@toolplane/contracts';
import { createGuardedFetch, isAllowlisted, outboundRefusal } from './outbound-guard.ts';

/**
 * `webhook.post`: one POST of a JSON body to a workspace's webhook (a quota's alerts) for the control plane, through
 * the outbound guard (no private, loopback or metadata address, checked at connection time), within the task's
 * deadline. `https` only, plain `http` only for hosts `OUTBOUND_ALLOW` lists; no redirect is followed. A 2xx is
 * delivered; anything else says why without the URL's path or query (a webhook's URL often holds its token).
 */
export function createWebhookPostHandler(deps: { timeoutMs: number; now?: () => number }) {
  const now = deps.now ?? Date.now;
  const fetchGuarded = createGuardedFetch({ maxResponseBytes: 64 * 1024 });
  return async (task: PostWebhookJob): Promise<PostWebhookResult> => {
    const base = { v: 1 as const, taskId: task.taskId, kind: 'webhook.post' as const };
    const url = new URL(task.url);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isAllowlisted(url)))
      return { ...base, ok: false, error: `refused: ${url.origin} is plain http (https only)` };
    const timeoutMs = Math.max(1, Math.min(deps.timeoutMs, task.deadlineAt - now()));
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await fetchGuarded(url.href, {
        method: 'POST',
        redirect: 'manual',
        signal,
        headers: { 'content-type': 'application/json', 'user-agent': 'toolplane-webhook/1' },
        body: task.body,
      });
      await res.body?.cancel();
      const ok = res.status >= 200 && res.status < 300;
      return { ...base, ok, status: res.status, ...(ok ? {} : { error: `${url.origin} answered HTTP ${res.status}` }) };
    } catch (err) {
      const refusal = outboundRefusal(err);
      const error = refusal
        ? refusal.message
        : signal.aborted
          ? `${url.origin} did not answer within ${timeoutMs} ms`
          : `${url.origin} could not be reached (${(err as { code?: string }).code ?? 'network error'})`;
      return { ...base, ok: false, error };
    }
  };
}
