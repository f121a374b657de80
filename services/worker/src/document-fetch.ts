import type { FetchDocumentJob, FetchDocumentResult } from '@toolplane/contracts';
import { createGuardedFetch, isAllowlisted, outboundRefusal, outboundSettings } from './outbound-guard.ts';

/**
 * `document.fetch`: a document named by URL in a workflow deployment (an Arazzo source description),
 * fetched once at deploy time for the control plane, which stores it with the deployment. Through the
 * outbound guard (no private, loopback or metadata address, checked at connection time), within the
 * task's size cap and deadline, following at most `HTTP_MAX_REDIRECTS` redirects by hand so that each
 * target's scheme is checked too: `https` only, plain `http` only for hosts `OUTBOUND_ALLOW` lists.
 */

class FetchRefused extends Error {}

const accept =
  'application/vnd.oai.openapi+json, application/vnd.oai.openapi, application/json, application/yaml, text/yaml, text/plain;q=0.9, */*;q=0.8';

function checkScheme(url: URL): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isAllowlisted(url)) return;
  throw new FetchRefused(
    url.protocol === 'http:'
      ? `refused: ${url.href} is plain http; documents are fetched over https only ` +
          "(plain http only for hosts the worker's OUTBOUND_ALLOW lists, for development)"
      : `refused: the scheme "${url.protocol}" is not allowed (https only)`,
  );
}

export function createDocumentFetchHandler(deps: { timeoutMs: number; now?: () => number }) {
  const now = deps.now ?? Date.now;
  return async (task: FetchDocumentJob): Promise<FetchDocumentResult> => {
    const base = { v: 1 as const, taskId: task.taskId, kind: 'document.fetch' as const };
    const timeoutMs = Math.max(1, Math.min(deps.timeoutMs, task.deadlineAt - now()));
    const signal = AbortSignal.timeout(timeoutMs);
    const fetchGuarded = createGuardedFetch({ maxResponseBytes: task.maxBytes });
    let url = new URL(task.url);
    try {
      for (let hop = 0; ; hop++) {
        checkScheme(url);
        const res = await fetchGuarded(url.href, { redirect: 'manual', signal, headers: { accept } });
        const location = res.headers.get('location');
        if (res.status >= 300 && res.status < 400 && location) {
          await res.body?.cancel();
          const max = outboundSettings().maxRedirects;
          if (hop >= max) throw new FetchRefused(`${task.url} redirected more than ${max} times`);
          url = new URL(location, url);
          continue;
        }
        if (res.status !== 200) {
          await res.body?.cancel();
          throw new FetchRefused(`${url.href} answered HTTP ${res.status}`);
        }
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (bytes.byteLength > task.maxBytes)
          throw new FetchRefused(`${url.href} is larger than ${task.maxBytes} bytes`);
        let content: string;
        try {
          content = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        } catch {
          throw new FetchRefused(`${url.href} is not UTF-8 text`);
        }
        const contentType = res.headers.get('content-type');
        return {
          ...base,
          ok: true,
          content,
          ...(contentType ? { contentType } : {}),
          finalUrl: url.href,
        };
      }
    } catch (err) {
      const refusal = outboundRefusal(err);
      const message =
        err instanceof FetchRefused
          ? err.message
          : refusal
            ? refusal.message
            : signal.aborted
              ? `${url.href} did not answer within ${timeoutMs} ms`
              : /exceeded the \d+-byte limit/.test(String((err as Error)?.message ?? err))
                ? `${url.href} is larger than ${task.maxBytes} bytes`
                : `${url.href} could not be fetched (${err instanceof Error ? err.message : String(err)})`;
      return { ...base, ok: false, error: message };
    }
  };
}
