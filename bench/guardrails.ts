// bench/guardrails: the worker's CPU per KB of result for guardrails on results (ADR 0050).
// Not a test: it prints what it measured; copy it into docs/benchmarks.md.
//
//   pnpm bench:guardrails [--iterations 200]
//
// `applyGuardrails` (what the worker runs on each result of a guarded tool) with the default detectors (secrets,
// pii, prompt_injection; action redact) on three results: a GitHub issue search as GitHub answers it (30 issues,
// 78 KB, `tests/fixtures/github-search.ts`) with nothing to find, the same with a card number, an e-mail and an AWS key
// planted in each issue's body, and the search cut to 3 issues (8 KB). Timed over `--iterations` runs after a warm-up;
// µs per call and per KB of the result's JSON. A tool without guardrails runs none of this (the catalog carries none).
import { parseArgs } from 'node:util';
import { applyGuardrails, compileGuardrails } from '@toolplane/guardrails';
import { githubIssueSearch } from '../tests/fixtures/github-search.ts';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '200' } } });
const iterations = Number(values.iterations);

const guardrails = compileGuardrails([
  {
    id: 'g1',
    name: 'defaults',
    detectors: [{ kind: 'secrets' }, { kind: 'pii' }, { kind: 'prompt_injection' }],
    action: 'redact',
    enforce: true,
  },
] as never);

const clean = githubIssueSearch(30);
const planted = githubIssueSearch(30) as { items: { body: string }[] };
for (const item of planted.items)
  item.body += ' Card 4111 1111 1111 1111, mail jane.doe@example.com, key AKIAIOSFODNN7EXAMPLE.';
const small = githubIssueSearch(3);

const options = { maxScanBytes: 8 * 1024 * 1024 };

function measure(label: string, value: unknown): void {
  const result = { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
  const kb = Buffer.byteLength(JSON.stringify(value)) / 1024;
  for (let i = 0; i < 20; i++) applyGuardrails(result, guardrails, options);
  const t0 = process.hrtime.bigint();
  let findings = 0;
  for (let i = 0; i < iterations; i++) findings = applyGuardrails(result, guardrails, options).findings.length;
  const us = Number(process.hrtime.bigint() - t0) / iterations / 1e3;
  console.log(`| ${label} | ${kb.toFixed(1)} | ${findings} | ${us.toFixed(0)} | ${(us / kb).toFixed(1)} |`);
}

console.log('| result | KB (JSON, text and structured content each) | findings | µs per call | µs per KB |');
console.log('| --- | ---: | ---: | ---: | ---: |');
measure('issue search, 30 issues, nothing to find', clean);
measure('the same, a card, an e-mail and an AWS key in each issue', planted);
measure('issue search, 3 issues', small);
console.log(`\n${iterations} runs each, node ${process.version}`);
