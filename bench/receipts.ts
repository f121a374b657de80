// The CPU a receipt costs the worker (ADR 0111): issuing one (two salted digests of canonical JSON and an Ed25519
// signature) for a typical call, measured as process CPU time per call in interleaved rounds, each call of a round of
// 32 (the calls in flight of `bench:tool-call`'s default) made in one event-loop turn as the worker makes them. Arm A
// builds the same facts and serialises the record without a receipt; arm B issues the receipt too. The difference is
// what signing adds per call. Usage: pnpm bench:receipts [--rounds 6] [--calls 20000] [--result-bytes 1000]
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { issueReceipt, ReceiptSigner, type ReceiptFacts } from '@toolplane/receipts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '6' },
    calls: { type: 'string', default: '20000' },
    'result-bytes': { type: 'string', default: '1000' },
  },
});
const rounds = Number(values.rounds);
const calls = Number(values.calls);
const resultBytes = Number(values['result-bytes']);
const IN_FLIGHT = 32;

const signer = new ReceiptSigner(generateKeyPairSync('ed25519').privateKey);
const text = 'x'.repeat(resultBytes);

function facts(): ReceiptFacts {
  return {
    receipt_id: randomUUID(),
    workspace_id: '00000000-0000-4000-8000-000000000001',
    principal: { key_id: '00000000-0000-4000-8000-000000000002' },
    acting_for: 'ada@example.com',
    path: 'direct',
    server_id: '00000000-0000-4000-8000-000000000003',
    tool: 'search_tickets',
    policy: { catalog_version: 12 },
    decisions: [{ rule: 'access', decision: 'allow' }],
    outcome: 'success',
    started_at: new Date().toISOString(),
    issued_at: new Date().toISOString(),
    arguments: { status: 'open', assignee: 'ada@example.com', limit: 25 },
    result: { content: [{ type: 'text', text }], structuredContent: { tickets: [{ id: 'TCK-1', title: text }] } },
  };
}

let sink = 0;
/** CPU µs per call of one arm: `calls` calls in rounds of IN_FLIGHT. */
function arm(sign: boolean): number {
  const before = process.cpuUsage();
  for (let done = 0; done < calls; done += IN_FLIGHT)
    for (let i = 0; i < IN_FLIGHT; i++) {
      const f = facts();
      const out = sign ? issueReceipt(signer, f) : { receipt: f, salts: {} };
      sink += JSON.stringify(out.receipt).length;
    }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / calls;
}

arm(true); // warm-up: JIT and the key's first use
const rows: { round: number; a: number; b: number }[] = [];
for (let r = 1; r <= rounds; r++) {
  // Interleaved, and the order flipped each round so that neither arm always runs second.
  const [a, b] =
    r % 2 === 1
      ? [arm(false), arm(true)]
      : (() => {
          const b = arm(true);
          return [arm(false), b];
        })();
  rows.push({ round: r, a, b });
  console.log(
    `round ${r}: A (no receipt) ${a.toFixed(1)} µs/call, B (receipt) ${b.toFixed(1)} µs/call, B−A ${(b - a).toFixed(1)} µs`,
  );
}
const diffs = rows.map((x) => x.b - x.a).sort((x, y) => x - y);
const median = diffs[Math.floor(diffs.length / 2)]!;
console.log(
  `signing adds ${median.toFixed(1)} µs of CPU per call (median of ${rounds} interleaved rounds, ` +
    `${calls} calls each, ${IN_FLIGHT} per turn, result ${resultBytes} bytes; node ${process.version})`,
);
if (sink < 0) console.log(sink);
