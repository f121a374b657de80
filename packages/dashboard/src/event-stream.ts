/**
 * Server-sent events over `fetch`: the browser's `EventSource` cannot send `x-api-key`, so the dashboard reads
 * `text/event-stream` bodies itself (the WHATWG parsing rules: `event`, `data`, `id`, `retry` fields, comments)
 * and reconnects with `Last-Event-ID` as `EventSource` would.
 */

export interface ServerSentEvent {
  event: string;
  data: string;
  /** The last event id seen so far on the stream (what a reconnection sends as `Last-Event-ID`). */
  lastEventId: string | undefined;
}

/** The events of a `text/event-stream` body, as they arrive; `retry` hears the server's reconnection delay. */
async function* readServerSentEvents(
  body: ReadableStream<Uint8Array>,
  opts: { lastEventId?: string | undefined; retry?: (ms: number) => void } = {},
): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let lastEventId = opts.lastEventId;
  let buffer = '';
  let event = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop() ?? ''; // an unfinished line
      for (const line of lines) {
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), lastEventId };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue; // a comment (keep-alive)
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const field = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'event') event = field;
        else if (name === 'data') data.push(field);
        else if (name === 'id' && !field.includes('\0')) lastEventId = field;
        else if (name === 'retry' && /^\d+$/.test(field)) opts.retry?.(Number(field));
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** A stream that cannot be opened (a problem+json status): 4xx other than 429 are not retried. */
export class StreamRefused extends Error {
  readonly status: number;
  readonly error: unknown;
  constructor(status: number, error: unknown) {
    super(`the stream was refused (HTTP ${status})`);
    this.status = status;
    this.error = error;
  }
}

/**
 * Follows an event stream until `signal` aborts or `onEvent` returns `'stop'`: opens it with `open`
 * (given the last event id), hands over each event, and reconnects after the server's `retry` delay (doubled
 * after each failure in a row, up to 30 s) when the stream closes or fails; `onState` tells whether it is live.
 */
export async function followServerSentEvents(opts: {
  open: (lastEventId: string | undefined, signal: AbortSignal) => Promise<ReadableStream<Uint8Array>>;
  onEvent: (e: ServerSentEvent) => 'stop' | void;
  onState: (state: 'live' | 'reconnecting', error?: unknown) => void;
  signal: AbortSignal;
  lastEventId?: string | undefined;
}): Promise<void> {
  let lastEventId = opts.lastEventId;
  let retryMs = 2000;
  let failures = 0;
  while (!opts.signal.aborted) {
    let error: unknown;
    // A failed connection, or a stream that closes before any event but `error`, is a failure (backing off).
    failures++;
    try {
      const body = await opts.open(lastEventId, opts.signal);
      opts.onState('live');
      for await (const e of readServerSentEvents(body, { lastEventId, retry: (ms) => (retryMs = ms) })) {
        lastEventId = e.lastEventId;
        if (e.event !== 'error') failures = 0;
        if (opts.onEvent(e) === 'stop') return;
      }
    } catch (err) {
      if (opts.signal.aborted) return;
      if (err instanceof StreamRefused && err.status < 500 && err.status !== 429) throw err;
      error = err;
    }
    opts.onState('reconnecting', error);
    const delay = Math.min(retryMs * 2 ** Math.max(0, failures - 1), 30_000);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      opts.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
}
