import {
  jobNames,
  queueNames,
  ReceivedToolInvokeResult,
  redisKeys,
  SerializedToolResult,
  ToolInvokeEvent,
  type ToolInvokeJob,
  type ToolInvokeResult,
  type ToolResultPayload,
} from '@toolplane/contracts';
import type { Cluster, Redis } from 'ioredis';
import { RequestReplyClient } from './reply-channel.ts';

export interface InvocationClientOptions {
  redis: Redis | Cluster;
  prefix: string;
  /** Unique per edge process: results for this edge arrive on its own channel. */
  edgeId: string;
  /** BullMQ prefixes of the queue's shards (`queueShardPrefixes`), used in turn; default one queue. */
  shards?: string[];
}

/** The edge's side of the queue hop: enqueue a `tool.invoke` job and await its result. */
export class InvocationClient {
  readonly edgeId: string;
  private readonly rpc: RequestReplyClient<ToolInvokeJob, ReceivedToolInvokeResult>;
  private readonly redis: Redis | Cluster;
  private readonly cancelChannel: string;

  constructor(opts: InvocationClientOptions) {
    this.edgeId = opts.edgeId;
    this.redis = opts.redis;
    this.cancelChannel = redisKeys(opts.prefix).cancel;
    this.rpc = new RequestReplyClient({
      redis: opts.redis,
      prefix: opts.prefix,
      clientId: opts.edgeId,
      queueName: queueNames.toolInvocations,
      ...(opts.shards ? { shards: opts.shards } : {}),
      jobName: jobNames.toolInvoke,
      reply: ReceivedToolInvokeResult,
      withPart: (envelope, json) => ({
        ...(envelope as object),
        result: new SerializedToolResult(json, (envelope as { isError?: boolean }).isError),
      }),
      idOf: (r) => r.invocationId,
      event: { schema: ToolInvokeEvent, idOf: (e) => (e as ToolInvokeEvent).invocationId },
    });
  }

  start(): Promise<void> {
    return this.rpc.start();
  }

  /**
   * Runs a call; if `signal` aborts (the agent went away), workers are told to stop it. `onEnqueued`
   * runs once the job is in the queue (or could not be put there): the end of the enqueue span.
   * `onEvent` receives the job's progress and log events (the worker sends them only when the job asks).
   */
  invoke(
    job: ToolInvokeJob,
    signal?: AbortSignal,
    onEnqueued?: (error?: unknown) => void,
    onEvent?: (event: ToolInvokeEvent['event']) => void,
  ): Promise<ReceivedToolInvokeResult> {
    return this.rpc.request(
      job.invocationId,
      job,
      signal,
      () => {
        void this.redis.publish(this.cancelChannel, job.invocationId).catch(() => undefined);
      },
      onEnqueued,
      onEvent ? (e) => onEvent((e as ToolInvokeEvent).event) : undefined,
    );
  }

  /**
   * Queues a task's call held for someone else's approval (ADR 0049): delayed until `delayMs` (the request's expiry),
   * promoted when the request is decided; nobody waits for its reply here (its worker settles the task). Answers the
   * BullMQ prefix of the queue it went to (`promoteHeldJob`).
   */
  hold(job: ToolInvokeJob, delayMs: number): Promise<string> {
    return this.rpc.enqueueHeld(job.invocationId, job, delayMs);
  }

  get inFlight(): number {
    return this.rpc.inFlight;
  }

  close(): Promise<void> {
    return this.rpc.close();
  }
}

/**
 * The only members of a plain result (what an HTTP, connector or workflow tool answers, with its `_meta`: a receipt,
 * ADR 0111; the cache's and the shape's reports), in `ToolResultPayload`'s order.
 */
const plainMembers = new Set(['content', 'structuredContent', 'isError', '_meta']);

/**
 * How a worker publishes a tool invocation's reply (`ReplyingConsumer`'s `message`). For a job that takes a serialised
 * result (`serializedResult`), a plain result goes as a second part after the envelope, serialised once here and
 * written by the edge into its answer as it is (ADR 0033): `{"v":1,"invocationId":…,"ok":true}\n{"content":…}`. The
 * result's members are in `ToolResultPayload`'s order and each content block's `type` first: the bytes the edge's
 * parse and serialisation made before. Anything else is one JSON message.
 */
export function toolReplyMessage(job: ToolInvokeJob, reply: ToolInvokeResult): string {
  if (!job.serializedResult || !reply.ok || !onlyPlainMembers(reply.result)) return JSON.stringify(reply);
  const { content, structuredContent, isError, _meta } = reply.result;
  const envelope = { v: reply.v, invocationId: reply.invocationId, ok: true, ...(isError ? { isError } : {}) };
  const result: ToolResultPayload = { content: content.map(typeFirst), structuredContent, isError, _meta };
  return `${JSON.stringify(envelope)}\n${JSON.stringify(result)}`;
}

/** Whether `result` has no member but a plain result's (a loop over its keys: no array of them per call). */
function onlyPlainMembers(result: object): boolean {
  for (const k in result) if (Object.hasOwn(result, k) && !plainMembers.has(k)) return false;
  return true;
}

/** A block's first own key is `type`: checked without the array of its keys `Object.keys` would build per block. */
function typeIsFirst(block: object): boolean {
  for (const k in block) if (Object.hasOwn(block, k)) return k === 'type';
  return false;
}

function typeFirst(block: ToolResultPayload['content'][number]): ToolResultPayload['content'][number] {
  if (typeIsFirst(block)) return block;
  const { type, ...rest } = block;
  return { type, ...rest };
}
