import { randomUUID } from 'node:crypto';
import type { DataPlaneTaskClient } from '@toolplane/queue';

/** Fetches a URL's text through a worker (`document.fetch`): the content, or why not. */
export type Fetcher = (
  url: string,
  maxBytes: number,
) => Promise<{ ok: true; content: string } | { ok: false; error: string }>;

/** How long a worker has to fetch a listing or document. */
const fetchTimeoutMs = 60_000;

/**
 * Document fetches (the API catalog's listing and documents, connector documents by URL), made by a worker through
 * its outbound guard: the control plane never calls out itself.
 */
export function workerFetcher(tasks: DataPlaneTaskClient): Fetcher {
  return async (url, maxBytes) => {
    const r = await tasks.fetchDocument({
      v: 1,
      taskId: randomUUID(),
      kind: 'document.fetch',
      url,
      maxBytes,
      deadlineAt: Date.now() + fetchTimeoutMs,
      replyTo: tasks.clientId,
    });
    return r.ok && r.content !== undefined
      ? { ok: true, content: r.content }
      : { ok: false, error: r.error ?? 'the worker returned no content' };
  };
}
