import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import type { ReceiptKeySet } from './keys.ts';
import type { Receipt, ReceiptBundle } from './receipt.ts';
import { bundleOf, issueReceipt, ReceiptSigner, type ReceiptFacts } from './signer.ts';
import { verifyBundle, type Problem } from './verify.ts';

/** A seeded generator (mulberry32): the same receipts every run. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const text = (n: number) =>
    Array.from({ length: n }, () => 'abcdefghijklmnopqrstuvwxyzé日0123456789'[int(38)]).join('');
  return { int, text, pick: <T>(xs: readonly T[]) => xs[int(xs.length)]! };
}

const newSigner = () => new ReceiptSigner(generateKeyPairSync('ed25519').privateKey);
const T0 = Date.parse('2026-11-01T00:00:00.000Z');
const ROTATED = '2026-11-15T00:00:00.000Z';
const oldKey = newSigner();
const newKey = newSigner();
/** The old key signed until the rotation, the new one since: both verify, each only in its window. */
const trusted: ReceiptKeySet = {
  keys: [oldKey.publicKey(new Date(T0).toISOString(), ROTATED), newKey.publicKey(ROTATED)],
};
const signerAt = (at: string) => (at < ROTATED ? oldKey : newKey);
const iso = (ms: number) => new Date(ms).toISOString();

const PATHS = ['direct', 'task', 'code', 'step', 'event'] as const;
const OUTCOMES = ['success', 'tool_error', 'rejected', 'failed', 'held'] as const;

interface Call {
  facts: ReceiptFacts;
  receipt: Receipt;
  salts: ReturnType<typeof issueReceipt>['salts'];
}

/** `n` calls of one workspace over every path, times rising from `start` (a minute apart at most). */
function calls(seed: number, workspace: string, n: number, start: number): Call[] {
  const r = random(seed);
  let t = start;
  return Array.from({ length: n }, (_, i) => {
    t += 1 + r.int(60_000);
    const outcome = r.pick(OUTCOMES);
    const facts: ReceiptFacts = {
      receipt_id: `${workspace}-${i}`,
      workspace_id: workspace,
      principal: r.int(3) === 0 ? { subject: `user-${r.text(6)}` } : { key_id: `key-${r.text(8)}` },
      ...(r.int(2) === 0 ? { acting_for: `person-${r.text(5)}` } : {}),
      path: r.pick(PATHS),
      server_id: `server-${r.int(5)}`,
      tool: `tool_${r.text(4)}`,
      policy: { catalog_version: 1 + r.int(50), access_digest: `sha256:${r.text(16)}` },
      decisions: [{ rule: 'access', decision: outcome === 'rejected' ? 'refuse' : 'allow' }],
      outcome,
      started_at: iso(t - r.int(1000)),
      issued_at: iso(t),
      arguments: { q: r.text(1 + r.int(40)), n: r.int(1000), nested: { ok: r.int(2) === 0 } },
      ...(outcome === 'rejected' || outcome === 'held'
        ? {}
        : { result: { content: [{ type: 'text', text: r.text(30) }] } }),
    };
    return { facts, ...issueReceipt(signerAt(iso(t)), facts) };
  });
}

/** A complete bundle of `list`, heads at a third, two thirds and the end, each disclosing its arguments and result. */
function bundle(workspace: string, list: Call[], heads = newKey): ReceiptBundle {
  const n = list.length;
  const sizes = [...new Set([Math.max(1, Math.floor(n / 3)), Math.max(1, Math.floor((2 * n) / 3)), n])];
  const lastIssued = (size: number) => Date.parse(list[size - 1]!.receipt.issued_at);
  return bundleOf({
    logId: workspace,
    signer: heads,
    receipts: list.map((c) => c.receipt),
    sizes,
    // Each head signed after the last receipt it covers (with the key valid then).
    at: (size) => iso(Math.max(lastIssued(size) + 1000, Date.parse(ROTATED))),
    disclose: (i) => ({
      ...list[i]!.salts,
      arguments: list[i]!.facts.arguments,
      ...(list[i]!.facts.result !== undefined ? { result: list[i]!.facts.result } : {}),
    }),
  });
}

const copy = <T>(v: T): T => structuredClone(v);
/** One character of a string changed (same length, still a string). */
const oneByte = (s: string) => `${s.slice(0, -1)}${s.endsWith('x') ? 'y' : 'x'}`;

type Mutation = (b: ReceiptBundle, i: number, calls: Call[]) => ReceiptBundle;

/** Every way a bundle may be tampered with that the verifier must refuse, each with the problem it must name. */
const mutations: Record<string, { kind: Problem['kind']; mutate: Mutation }> = {
  'one byte of the arguments': {
    kind: 'disclosure',
    mutate: (b, i) => {
      const d = b.entries[i]!.disclosure as { arguments: { q: string } };
      d.arguments.q = oneByte(d.arguments.q);
      return b;
    },
  },
  'one byte of the result': {
    kind: 'disclosure',
    mutate: (b, i) => {
      const e =
        b.entries.find((x, j) => j >= i && x.disclosure?.result !== undefined) ??
        b.entries.find((x) => x.disclosure?.result);
      const r = e!.disclosure!.result as { content: { text: string }[] };
      r.content[0]!.text = oneByte(r.content[0]!.text);
      return b;
    },
  },
  'a decision': {
    kind: 'signature',
    mutate: (b, i) => {
      const d = b.entries[i]!.receipt.decisions[0]!;
      d.decision = d.decision === 'allow' ? 'refuse' : 'allow';
      return b;
    },
  },
  'a time': {
    kind: 'signature',
    mutate: (b, i) => {
      const r = b.entries[i]!.receipt;
      r.issued_at = iso(Date.parse(r.issued_at) - 1);
      return b;
    },
  },
  'the principal': {
    kind: 'signature',
    mutate: (b, i) => {
      const p = b.entries[i]!.receipt.principal;
      if (p.key_id) p.key_id = oneByte(p.key_id);
      else p.subject = oneByte(p.subject!);
      return b;
    },
  },
  'a receipt dropped': {
    kind: 'completeness',
    mutate: (b, i) => ({ ...b, entries: b.entries.filter((_, j) => j !== i) }),
  },
  'a receipt duplicated': {
    kind: 'order',
    mutate: (b, i) => ({ ...b, entries: [...b.entries.slice(0, i + 1), ...b.entries.slice(i)] }),
  },
  'two receipts reordered': {
    kind: 'completeness',
    mutate: (b, i) => {
      const j = i === b.entries.length - 1 ? i - 1 : i + 1;
      const [x, y] = [b.entries[i]!, b.entries[j]!];
      b.entries[i] = y;
      b.entries[j] = x;
      return b;
    },
  },
  'a tree head forged': {
    kind: 'signature',
    mutate: (b, i) => {
      const h = b.tree_heads[i % b.tree_heads.length]!;
      h.root_hash = `${h.root_hash.slice(0, -1)}${h.root_hash.endsWith('0') ? '1' : '0'}`;
      return b;
    },
  },
  'a tree head forked': {
    kind: 'fork',
    mutate: (b, i, list) => {
      // The same calls, one receipt issued again (another salt): a validly signed head of another tree of that size.
      const other = list.map((c, j) =>
        j === i ? { ...c, ...issueReceipt(signerAt(c.receipt.issued_at), c.facts) } : c,
      );
      const last = b.tree_heads.at(-1)!;
      const forked = bundle(b.log_id, other).tree_heads.at(-1)!;
      return { ...b, tree_heads: [...b.tree_heads.slice(0, -1), last, forked] };
    },
  },
  'a key used outside its validity': {
    kind: 'key_validity',
    mutate: (b, i, list) => {
      // A call after the rotation signed with the old key (kept, or stolen): the tree and heads made around it.
      const late = list.map((c, j) => {
        const wrong =
          j === i ? (signerAt(c.receipt.issued_at) === oldKey ? newKey : oldKey) : signerAt(c.receipt.issued_at);
        return { ...c, ...issueReceipt(wrong, c.facts) };
      });
      return bundle(b.log_id, late);
    },
  },
};

describe('receipt bundles', () => {
  it('accepts 10,000 receipts over every path in 100 untouched bundles, keys rotated in between', () => {
    let receipts = 0;
    for (let w = 0; w < 100; w++) {
      const list = calls(w, `ws-${w}`, 100, T0 + w * 3_600_000);
      const verdict = verifyBundle(bundle(`ws-${w}`, list), trusted);
      expect(verdict.problems).toEqual([]);
      expect(verdict.disclosed).toBe(100);
      receipts += verdict.receipts;
    }
    expect(receipts).toBe(10_000);
  });

  it('refuses every one of 1,000 tampered bundles, naming what was changed', () => {
    const names = Object.keys(mutations);
    const refused = new Map<string, number>();
    for (let k = 0; k < 1000; k++) {
      const name = names[k % names.length]!;
      const list = calls(10_000 + k, `ws-m${k}`, 10, T0 + (k % 600) * 3_600_000);
      const i = k % list.length;
      const tampered = mutations[name]!.mutate(copy(bundle(`ws-m${k}`, list)), i, list);
      const verdict = verifyBundle(tampered, trusted);
      expect({ name, ok: verdict.ok }).toEqual({ name, ok: false });
      expect({ name, kinds: verdict.problems.map((p) => p.kind) }).toEqual({
        name,
        kinds: expect.arrayContaining([mutations[name]!.kind]),
      });
      refused.set(name, (refused.get(name) ?? 0) + 1);
    }
    expect([...refused.values()].reduce((a, b) => a + b, 0)).toBe(1000);
    expect(refused.size).toBe(names.length);
  });

  it('verifies one receipt with only its inclusion proof and one tree head, against the published keys', () => {
    const list = calls(7, 'ws-one', 37, T0);
    const full = bundle('ws-one', list);
    const entry = full.entries[12]!;
    const head = full.tree_heads.at(-1)!;
    const alone: ReceiptBundle = {
      bundle_version: 1,
      log_id: 'ws-one',
      tree_heads: [head],
      consistency: [],
      entries: [entry],
    };
    expect(verifyBundle(alone, trusted).problems).toEqual([]);
    // Its key unknown to the verifier: refused.
    expect(verifyBundle(alone, { keys: [trusted.keys[1]!] }).ok).toBe(false);
  });

  it('refuses what a revoked key signed after its revocation, and keeps what it signed before', () => {
    const list = calls(9, 'ws-rev', 20, Date.parse(ROTATED) + 1000);
    const revokedAt = list[10]!.receipt.issued_at;
    const headKey = newSigner();
    const revoked: ReceiptKeySet = {
      keys: [trusted.keys[0]!, { ...trusted.keys[1]!, revoked_at: revokedAt }, headKey.publicKey(iso(T0))],
    };
    expect(verifyBundle(bundle('ws-rev', list.slice(0, 10), headKey), revoked).problems).toEqual([]);
    const late = verifyBundle(bundle('ws-rev', list, headKey), revoked).problems;
    expect(late.map((p) => `${p.kind} ${p.at}`)).toEqual(
      list.slice(10).map((_, i) => `key_validity /entries/${10 + i}`),
    );
  });

  it('refuses a bundle whose members have the wrong types, without throwing', () => {
    const good = bundle('ws-bad', calls(11, 'ws-bad', 4, T0));
    const broken = [
      null,
      { ...good, entries: 'none' },
      { ...good, entries: [{ ...good.entries[0]!, inclusion: 'abc' }] },
      { ...good, consistency: [{ from_size: 1, to_size: 2, proof: null }] },
      { ...good, tree_heads: [{ ...good.tree_heads[0]!, signature: 42 }] },
    ];
    for (const b of broken) expect(verifyBundle(b as never, trusted).ok).toBe(false);
  });
});
