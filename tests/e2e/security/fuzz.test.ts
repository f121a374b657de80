import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { createManagementClient } from '@toolplane/client';
import { runFuzz } from '../../helpers/fuzz-generator.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { scaled } from '../../helpers/wait.ts';

/**
 * Seeded fuzzing of the edge's MCP endpoints and the control plane's REST API (generator shared
 * with `scripts/fuzz.ts`): malformed methods, paths, encodings, headers and bodies. The platform
 * answers each with a status below 500, no request hangs, and every process survives.
 */

const SEED = 20261123;
const COUNT = 2500;

let stack: Stack;
let example: RegisteredExample;

beforeAll(async () => {
  ({ stack } = await startTestStack('fuzz', {
    serviceEnv: {
      // The generator spreads requests over X-Forwarded-For addresses, so the per-address limits
      // are exercised without throttling everything.
      'control-plane': { TRUST_PROXY: 'loopback', UNAUTH_RATE_LIMIT: '10' },
      edge: { TRUST_PROXY: 'loopback', UNAUTH_RATE_LIMIT: '10', TOOL_CALL_TIMEOUT_MS: '5000' },
    },
  }));
  example = await registerTicketExample(
    createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey),
    'http://127.0.0.1:9',
    'unused',
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('seeded fuzzing', () => {
  it(`${COUNT} malformed MCP and REST requests (seed ${SEED}): no 5xx, no hung request, no crash`, async () => {
    const outcome = await runFuzz(
      {
        edgeUrl: stack.edgeUrl,
        controlPlaneUrl: stack.controlPlaneUrl,
        apiKey: stack.bootstrapKey,
        serverId: example.serverId,
      },
      { seed: SEED, count: COUNT, concurrency: 16, timeoutMs: 15_000 },
    );
    console.log(`fuzz seed ${SEED}: ${outcome.total} requests in ${outcome.ms} ms`, outcome.byStatus);
    expect(outcome.total).toBe(COUNT);
    expect(outcome.failures).toEqual([]);
    // Every service process is still running and healthy.
    for (const p of stack.processes) {
      expect({ name: p.name, exitCode: p.child.exitCode, signal: p.child.signalCode }).toEqual({
        name: p.name,
        exitCode: null,
        signal: null,
      });
      const health = await fetch(`${p.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
      expect(health.status).toBe(200);
    }
    // The real server still serves after the storm.
    const list = await postMcp(
      `${stack.edgeUrl}/mcp/${example.serverId}`,
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { 'x-api-key': stack.bootstrapKey },
      scaled(10_000),
    );
    expect(list.status).toBeLessThan(500);
  }, 120_000);
});
