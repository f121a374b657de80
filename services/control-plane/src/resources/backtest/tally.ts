/**
 * The backtest's counts (ADR 0080): one tally per kind of change, counted by API key, person, tool and UTC day, with a
 * few example record ids each. Bounded whatever the period holds: at most `MAX_VALUES` values per dimension (the rest
 * counted in `others`), `EXAMPLES` ids per change and `VALUE_EXAMPLES` per value.
 *
 * A change that depends on the recorded arguments (ADR 0091: a condition or a guardrail on arguments read them, or a
 * quota or session replayed after such a change) is counted only: never an example id, and a count of fewer than
 * `MIN_ARGUMENT_CALLS` such calls (none included) is left out of every total, value and count it would be part of.
 */

const MAX_VALUES = 500;
const EXAMPLES = 20;
const VALUE_EXAMPLES = 3;
/** The fewest calls changed through their arguments that a count shows (ADR 0091); fewer read as none. */
export const MIN_ARGUMENT_CALLS = 5;

const dimensions = ['byKey', 'byPerson', 'byTool', 'byDay'] as const;
type Dimension = (typeof dimensions)[number];

/** Where a call counts: its key id, person, tool and day (`''`: none). */
export type CallValues = Record<Dimension, string>;

/** Calls counted, apart: those shown with their ids and those changed through their arguments. */
interface Split {
  calls: number;
  fromArguments: number;
}

/** What a count shows: the calls shown, and those through arguments once there are enough of them. */
const shown = (s: Split) => s.calls + (s.fromArguments >= MIN_ARGUMENT_CALLS ? s.fromArguments : 0);

interface Bucket extends Split {
  examples: string[];
}

export class Tally {
  private readonly total: Split = { calls: 0, fromArguments: 0 };
  readonly examples: string[] = [];
  private readonly values = Object.fromEntries(dimensions.map((d) => [d, new Map<string, Bucket>()])) as Record<
    Dimension,
    Map<string, Bucket>
  >;
  private readonly others = Object.fromEntries(dimensions.map((d) => [d, 0])) as Record<Dimension, number>;

  /** All calls counted, whatever the answer shows of them. */
  get calls(): number {
    return this.total.calls + this.total.fromArguments;
  }

  /** Counts one call; `fromArguments`: its change depends on its recorded arguments (counted, never named). */
  add(id: string, values: CallValues, fromArguments = false): void {
    const field = fromArguments ? 'fromArguments' : 'calls';
    this.total[field]++;
    if (!fromArguments && this.examples.length < EXAMPLES) this.examples.push(id);
    for (const d of dimensions) {
      const map = this.values[d];
      let bucket = map.get(values[d]);
      if (!bucket) {
        if (map.size >= MAX_VALUES) {
          this.others[d]++;
          continue;
        }
        map.set(values[d], (bucket = { calls: 0, fromArguments: 0, examples: [] }));
      }
      bucket[field]++;
      if (!fromArguments && bucket.examples.length < VALUE_EXAMPLES) bucket.examples.push(id);
    }
  }

  /** The answer's form: each dimension's values, the most calls first. */
  toJSON() {
    const listed = (d: Dimension) =>
      [...this.values[d]]
        .map(([value, b]) => ({ value: value === '' ? null : value, calls: shown(b), examples: b.examples }))
        .filter((v) => v.calls > 0)
        .sort((a, b) => b.calls - a.calls || String(a.value).localeCompare(String(b.value)));
    const fromArguments = this.total.fromArguments;
    return {
      calls: shown(this.total),
      examples: this.examples,
      ...Object.fromEntries(dimensions.map((d) => [d, listed(d)])),
      others: this.others,
      fromArguments: fromArguments >= MIN_ARGUMENT_CALLS ? fromArguments : null,
    };
  }
}

/** Counts by a few fields (a refusal's code and rule, a finding's guardrail and detector), bounded like a tally. */
export class Counts<K extends Record<string, string | null>> {
  private readonly map = new Map<string, { key: K } & Split>();
  add(key: K, fromArguments = false): void {
    const k = JSON.stringify(key);
    let hit = this.map.get(k);
    if (!hit) {
      if (this.map.size >= MAX_VALUES) return;
      this.map.set(k, (hit = { key, calls: 0, fromArguments: 0 }));
    }
    hit[fromArguments ? 'fromArguments' : 'calls']++;
  }
  toJSON() {
    return [...this.map.values()]
      .map((c) => ({ ...c.key, calls: shown(c) }))
      .filter((c) => c.calls > 0)
      .sort((a, b) => b.calls - a.calls);
  }
}
