import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';

const LIMIT = 5;
const CALLS = 40;

let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  let api: ManagementClient;
  ({ stack, api } = await startTestStack('ratelimit', { workers: 2 }));
  // The seed descriptor with a tight per-account budget.
  const limited = ticketSystemDescriptorYaml.replace(
    'limit: 1000\n    interval_seconds: 60',
    `limit: ${LIMIT}\n    interval_seconds: 60`,
  );
  expect(limited).not.toBe(ticketSystemDescriptorYaml);
  await unwrap(api.POST('/connectors', yamlBody(limited)));
  example = await registerTicketExample(api, upstream.url, 'k');
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

describe('descriptor rate_limits', () => {
  it('lets at most `limit` calls per interval reach the upstream across two workers and tells the rest when to retry', async () => {
    const client = new Client({ name: 'rl', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(example.mcpUrl), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    const before = upstream.requests.length;
    const results = await Promise.all(
      Array.from({ length: CALLS }, (_, i) =>
        client.callTool({ name: 'get_ticket', arguments: { ticket_id: `TCK-${(i % 3) + 1}` } }),
      ),
    );
    await client.close();
    const passed = results.filter((r) => !r.isError);
    const limited = results.filter((r) => r.isError);
    expect(upstream.requests.length - before).toBe(LIMIT);
    expect(passed).toHaveLength(LIMIT);
    expect(limited).toHaveLength(CALLS - LIMIT);
    for (const r of limited) {
      expect((r.content as { text: string }[])[0]!.text).toMatch(
        /^Rate limit reached for this API \(5 calls per 60 s\)\. Retry after \d+ s\.$/,
      );
    }
    expect(stack.processes.filter((p) => p.service === 'worker')).toHaveLength(2);
  });
});
