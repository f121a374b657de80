import type { Cluster, Redis } from 'ioredis';

/** An answer published for a waiting process: a JSON-RPC `result`, or its `error`. */
export interface PublishedReply {
  readonly result?: unknown;
  readonly error?: unknown;
}

/**
 * Answers that arrive on a pub/sub channel (JSON `[key, reply]`) for a process waiting for them: any process may
 * publish one, the one that registered the key resumes. Used where stateless serving gets an answer on another
 * process than the one waiting: a 2025-era client's answer to the edge's `elicitation/create`, and a caller's answer
 * to a request an external MCP server sent during a call (the worker waits). Register before the request is sent:
 * an answer published earlier is not kept.
 */
export class PublishedReplies {
  private readonly waiting = new Map<string, (reply: PublishedReply) => void>();
  private readonly redis: Redis | Cluster;
  readonly channel: string;

  constructor(redis: Redis | Cluster, channel: string) {
    this.redis = redis;
    this.channel = channel;
  }

  /** The answer for `key`, once published; rejects when `signal` aborts (the call ended) or after `timeoutMs`. */
  wait(key: string, signal: AbortSignal | undefined, timeoutMs: number): Promise<PublishedReply> {
    return new Promise((resolve, reject) => {
      const end = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        if (this.waiting.get(key) === answered) this.waiting.delete(key);
      };
      const answered = (reply: PublishedReply) => {
        end();
        resolve(reply);
      };
      const aborted = () => {
        end();
        reject(new Error('the call ended before the answer came'));
      };
      const timer = setTimeout(() => {
        end();
        reject(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      if (signal?.aborted) return aborted();
      signal?.addEventListener('abort', aborted, { once: true });
      this.waiting.set(key, answered);
    });
  }

  /** Tells every subscribed process (this one included) of an answer. */
  async reply(key: string, reply: PublishedReply): Promise<void> {
    await this.redis.publish(this.channel, JSON.stringify([key, reply]));
  }

  /** A message on the channel: whether a wait here took it. */
  onMessage(message: string): boolean {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return false;
    }
    if (!Array.isArray(parsed) || typeof parsed[0] !== 'string') return false;
    const waiter = this.waiting.get(parsed[0]);
    const reply = parsed[1] as PublishedReply | null | undefined;
    if (!waiter || typeof reply !== 'object' || reply === null) return false;
    waiter(reply);
    return true;
  }

  get size(): number {
    return this.waiting.size;
  }
}
