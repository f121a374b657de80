/**
 * A longer seeded fuzz run than tests/e2e/security/fuzz.test.ts (same generator): starts a private stack
 * (embedded Redis and PostgreSQL), sends COUNT malformed MCP and REST requests, prints the count
 * per status and every 5xx, hung or failed request, and exits 1 if there was any or a service died.
 *
 *   node --conditions=@toolplane/source scripts/fuzz.ts [seed] [count] [concurrency]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerTicketExample, startStack } from '../packages/cli/src/index.ts';
import { createManagementClient } from '../packages/client/src/index.ts';
import { runFuzz } from '../tests/helpers/fuzz-generator.ts';

const seed = Number(process.argv[2] ?? 1);
const count = Number(process.argv[3] ?? 20_000);
const concurrency = Number(process.argv[4] ?? 16);

const stack = await startStack({
  dataDir: mkdtempSync(join(tmpdir(), 'toolplane-fuzz-')),
  serviceEnv: {
    'control-plane': { TRUST_PROXY: 'loopback', UNAUTH_RATE_LIMIT: '30' },
    edge: { TRUST_PROXY: 'loopback', UNAUTH_RATE_LIMIT: '30', TOOL_CALL_TIMEOUT_MS: '5000' },
  },
});
let failed: boolean;
try {
  const example = await registerTicketExample(
    createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey),
    'http://127.0.0.1:9',
    'unused',
  );
  const outcome = await runFuzz(
    {
      edgeUrl: stack.edgeUrl,
      controlPlaneUrl: stack.controlPlaneUrl,
      apiKey: stack.bootstrapKey,
      serverId: example.serverId,
    },
    { seed, count, concurrency },
  );
  const dead = stack.processes.filter((p) => p.child.exitCode !== null || p.child.signalCode !== null);
  console.log(
    `seed ${seed}: ${outcome.total} requests in ${(outcome.ms / 1000).toFixed(1)} s, concurrency ${concurrency}`,
  );
  for (const [status, n] of Object.entries(outcome.byStatus).sort()) console.log(`  ${status.padEnd(16)} ${n}`);
  console.log(
    `5xx / hung / failed: ${outcome.failures.length}; processes exited: ${dead.map((p) => p.name).join(', ') || 'none'}`,
  );
  for (const f of outcome.failures.slice(0, 50)) console.log(`  ${f.status} ${f.label} ${f.method} ${f.url} ${f.body}`);
  failed = outcome.failures.length > 0 || dead.length > 0;
} finally {
  await stack.stop();
}
process.exit(failed ? 1 : 0);
