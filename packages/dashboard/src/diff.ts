/** One run of a diff: text both sides share, or only the old side has (`del`), or only the new one (`add`). */
export interface DiffPart {
  op: 'same' | 'del' | 'add';
  text: string;
}

/** Above this many cells (old tokens × new tokens) the middle of a diff is shown as all removed, then all added. */
const MAX_CELLS = 1_000_000;

/** Adjacent parts of the same kind merged into one. */
function merged(parts: DiffPart[]): DiffPart[] {
  const out: DiffPart[] = [];
  for (const p of parts) {
    if (p.text === '') continue;
    const last = out[out.length - 1];
    if (last?.op === p.op) last.text += p.text;
    else out.push({ ...p });
  }
  return out;
}

/** The longest common subsequence of two token lists, as diff parts (the removed before the added at each gap). */
function lcs(a: string[], b: string[]): DiffPart[] {
  const n = a.length;
  const m = b.length;
  const row = m + 1;
  const len = new Uint32Array((n + 1) * row);
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      len[i * row + j] =
        a[i] === b[j] ? len[(i + 1) * row + j + 1]! + 1 : Math.max(len[(i + 1) * row + j]!, len[i * row + j + 1]!);
  const parts: DiffPart[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      parts.push({ op: 'same', text: a[i]! });
      i++;
      j++;
    } else if (len[(i + 1) * row + j]! >= len[i * row + j + 1]!) parts.push({ op: 'del', text: a[i++]! });
    else parts.push({ op: 'add', text: b[j++]! });
  }
  for (; i < n; i++) parts.push({ op: 'del', text: a[i]! });
  for (; j < m; j++) parts.push({ op: 'add', text: b[j]! });
  return parts;
}

/**
 * The diff of two token lists: the common start and end kept as they are, the middle by its longest common
 * subsequence (or, when too large to compare, as all removed then all added).
 */
export function diffTokens(a: string[], b: string[]): DiffPart[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let end = 0;
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++;
  const midA = a.slice(start, a.length - end);
  const midB = b.slice(start, b.length - end);
  const middle =
    midA.length * midB.length > MAX_CELLS
      ? [...midA.map((text) => ({ op: 'del' as const, text })), ...midB.map((text) => ({ op: 'add' as const, text }))]
      : lcs(midA, midB);
  return merged([
    { op: 'same', text: a.slice(0, start).join('') },
    ...middle,
    { op: 'same', text: a.slice(a.length - end).join('') },
  ]);
}

/** A text diff word by word (the spaces between words count as words). */
export function wordDiff(before: string, after: string): DiffPart[] {
  const words = (s: string) => s.split(/(\s+)/).filter((w) => w !== '');
  return diffTokens(words(before), words(after));
}

/** A diff line by line; each part's text ends with a newline (but for a last line without one). */
export function lineDiff(before: string, after: string): DiffPart[] {
  const lines = (s: string) => (s === '' ? [] : s.split(/(?<=\n)/));
  return diffTokens(lines(before), lines(after));
}

/** A value as the diff shows it: a string as it is, anything else as JSON with two-space indents, null as nothing. */
export function shown(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}
