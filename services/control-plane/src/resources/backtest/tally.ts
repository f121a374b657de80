/**
 * The backtest's counts (ADR 0080): one tally per kind of change, counted by API key, person, tool and UTC day, with a
 * few example record ids each. Bounded whatever the period holds: at most `MAX_VALUES` values per dimension (the rest
 * counted in `others`), `EXAMPLES` ids per change and `VALUE_EXAMPLES` per value.
 */

const MAX_VALUES = 500;
const EXAMPLES = 20;
const VALUE_EXAMPLES = 3;

const dimensions = ['byKey', 'byPerson', 'byTool', 'byDay'] as const;
type Dimension = (typeof dimensions)[number];

/** Where a call counts: its key id, person, tool and day (`''`: none). */
export type CallValues = Record<Dimension, string>;

interface Bucket {
  calls: number;
  examples: string[];
}

export class Tally {
  calls = 0;
  readonly examples: string[] = [];
  private readonly values = Object.fromEntries(dimensions.map((d) => [d, new Map<string, Bucket>()])) as Record<
    Dimension,
    Map<string, Bucket>
  >;
  private readonly others = Object.fromEntries(dimensions.map((d) => [d, 0])) as Record<Dimension, number>;

  add(id: string, values: CallValues): void {
    this.calls++;
    if (this.examples.length < EXAMPLES) this.examples.push(id);
    for (const d of dimensions) {
      const map = this.values[d];
      let bucket = map.get(values[d]);
      if (!bucket) {
        if (map.size >= MAX_VALUES) {
          this.others[d]++;
          continue;
        }
        map.set(values[d], (bucket = { calls: 0, examples: [] }));
      }
      bucket.calls++;
      if (bucket.examples.length < VALUE_EXAMPLES) bucket.examples.push(id);
    }
  }

  /** The answer's form: each dimension's values, the most calls first. */
  toJSON() {
    const listed = (d: Dimension) =>
      [...this.values[d]]
        .map(([value, b]) => ({ value: value === '' ? null : value, calls: b.calls, examples: b.examples }))
        .sort((a, b) => b.calls - a.calls || String(a.value).localeCompare(String(b.value)));
    return {
      calls: this.calls,
      examples: this.examples,
      ...Object.fromEntries(dimensions.map((d) => [d, listed(d)])),
      others: this.others,
    };
  }
}

/** Counts by a few fields (a refusal's code and rule, a finding's guardrail and detector), bounded like a tally. */
export class Counts<K extends Record<string, string | null>> {
  private readonly map = new Map<string, { key: K; calls: number }>();
  add(key: K): void {
    const k = JSON.stringify(key);
    const hit = this.map.get(k);
    if (hit) hit.calls++;
    else if (this.map.size < MAX_VALUES) this.map.set(k, { key, calls: 1 });
  }
  toJSON() {
    return [...this.map.values()].map(({ key, calls }) => ({ ...key, calls })).sort((a, b) => b.calls - a.calls);
  }
}
