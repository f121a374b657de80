import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  queueNames,
  SerializedToolResult,
  ToolInvokeJob,
  ToolResultPayload,
  type ToolInvokeResult,
} from '@toolplane/contracts';
import { Redis } from 'ioredis';
import { InvocationClient, toolReplyMessage } from './invocation-client.ts';
import { ReplyingConsumer } from './reply-consumer.ts';

// Real Redis from tests/setup/global-setup.js; this file uses its own prefix.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the queue tests need Redis');

const prefix = `ti${randomUUID().slice(0, 8)}`;
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
const client = new InvocationClient({ redis, prefix, edgeId: `edge-${randomUUID()}` });
/** What the worker answers for each tool name (the test's upstreams). */
const answers: Record<string, ToolResultPayload> = {
  plain: JSON.parse(
    '{"structuredContent":{"items":[{"id":1,"name":"ünïcode \\u2028 \\"quoted\\"\\n"}]},' +
      '"content":[{"text":"{\\"items\\":[1]}","type":"text","extra":1}]}',
  ) as ToolResultPayload,
  proto: JSON.parse('{"content":[],"structuredContent":{"items":[],"__proto__":{"x":1}}}') as ToolResultPayload,
  failed: { content: [{ type: 'text', text: 'The upstream API answered HTTP 500.' }], isError: true },
  relayed: { content: [], resultType: 'input_required', inputRequests: { a: {} } },
};
const consumer = new ReplyingConsumer<ToolInvokeJob, ToolInvokeResult>({
  redis,
  prefix,
  queueName: queueNames.toolInvocations,
  concurrency: 4,
  job: ToolInvokeJob,
  handle: async (job) => ({ v: 1, invocationId: job.invocationId, ok: true, result: answers[job.tool]! }),
  message: toolReplyMessage,
});
consumer.start();

afterAll(async () => {
  await consumer.close();
  await client.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

function job(tool: string, serializedResult: boolean): ToolInvokeJob {
  return {
    v: 2,
    invocationId: randomUUID(),
    serverId: 's1',
    catalogVersion: 1,
    tool,
    arguments: {},
    principal: { workspaceId: 'w1' },
    deadlineAt: Date.now() + 10_000,
    replyTo: client.edgeId,
    ...(serializedResult ? { serializedResult: true as const } : {}),
  };
}

/** What the edge wrote for a result before: the one-message reply parsed, checked by its schema, serialised. */
const asBefore = (result: ToolResultPayload) =>
  JSON.stringify(ToolResultPayload.parse(JSON.parse(JSON.stringify(result))));
const text = (r: SerializedToolResult) => Buffer.from(r.json).toString('utf8');

describe('tool invocation replies (ADR 0033)', () => {
  it('a plain result arrives as the JSON the worker serialised: the bytes the parsed result gave before', async () => {
    const reply = await client.invoke(job('plain', true));
    expect(reply.ok).toBe(true);
    const result = (reply as { result: unknown }).result;
    expect(result).toBeInstanceOf(SerializedToolResult);
    const serialized = result as SerializedToolResult;
    expect(serialized.isError).toBeUndefined();
    // The content block's `type` first, the members in the schema's order: the same bytes as before.
    expect(text(serialized)).toBe(asBefore(answers.plain!));
    expect(text(serialized)).toMatch(/^\{"content":\[\{"type":"text","text":/);
    expect(serialized.value()).toEqual(ToolResultPayload.parse(answers.plain));
  });

  it('keeps an own `__proto__` key of structured content (the schema dropped it before)', async () => {
    const reply = await client.invoke(job('proto', true));
    const json = text((reply as { result: SerializedToolResult }).result);
    expect(Object.keys((JSON.parse(json) as ToolResultPayload).structuredContent!)).toEqual(['items', '__proto__']);
  });

  it('an error result says so in its envelope; a job that did not ask, and a relayed result, come as values', async () => {
    const failed = await client.invoke(job('failed', true));
    const serialized = (failed as { result: SerializedToolResult }).result;
    expect(serialized).toBeInstanceOf(SerializedToolResult);
    expect(serialized.isError).toBe(true);
    expect(text(serialized)).toBe(asBefore(answers.failed!));

    const old = await client.invoke(job('plain', false));
    expect((old as { result: unknown }).result).not.toBeInstanceOf(SerializedToolResult);
    expect((old as { result: ToolResultPayload }).result).toEqual(ToolResultPayload.parse(answers.plain));

    const relayed = await client.invoke(job('relayed', true));
    expect((relayed as { result: ToolResultPayload }).result).toEqual(answers.relayed);
  });

  it('writes one JSON message for anything but a plain result of a job that asked', () => {
    const j = job('plain', true);
    const failure: ToolInvokeResult = {
      v: 1,
      invocationId: j.invocationId,
      ok: false,
      error: { kind: 'user', code: 'tool.invalid_arguments', message: 'line one\nline two' },
    };
    expect(toolReplyMessage(j, failure)).toBe(JSON.stringify(failure));
    const plain: ToolInvokeResult = { v: 1, invocationId: j.invocationId, ok: true, result: answers.failed! };
    expect(toolReplyMessage({ ...j, serializedResult: undefined }, plain)).toBe(JSON.stringify(plain));
    expect(toolReplyMessage(j, plain).split('\n')).toHaveLength(2);
  });

  it('puts the `type` of each block first and sends a result with a member of its own as one message', () => {
    const j = job('plain', true);
    const reply = (result: unknown): ToolInvokeResult =>
      ({ v: 1, invocationId: j.invocationId, ok: true, result }) as ToolInvokeResult;
    const blocks = [{ text: 'a', type: 'text' }, { type: 'text', text: 'b' }, {}];
    const [, second] = toolReplyMessage(j, reply({ content: blocks })).split('\n');
    expect(second).toBe('{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"},{}]}');
    // `_meta` (a call's receipt, ADR 0111) is a plain result's member: it leaves in the second part, last.
    const [, withMeta] = toolReplyMessage(j, reply({ _meta: { k: 1 }, content: [] })).split('\n');
    expect(withMeta).toBe('{"content":[],"_meta":{"k":1}}');
    // A member beyond content, structuredContent, isError and _meta: the whole reply, as one JSON message.
    for (const result of [
      { content: [], extra: 1 },
      { resultType: 'task', content: [] },
    ]) {
      expect(toolReplyMessage(j, reply(result))).toBe(JSON.stringify(reply(result)));
    }
    // An inherited enumerable key is no member of the result.
    const inherited = Object.create({ extra: 1 }) as Record<string, unknown>;
    inherited.content = [];
    expect(toolReplyMessage(j, reply(inherited)).split('\n')).toHaveLength(2);
  });
});
