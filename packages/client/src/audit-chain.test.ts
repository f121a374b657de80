import { describe, expect, it } from '@jest/globals';
import { AUDIT_GENESIS_HASH, type AuditEvent } from '@toolplane/contracts';
import { auditEventHash, AuditChainVerifier } from './audit-chain.ts';

function chain(n: number): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const unhashed = {
      id: `00000000-0000-4000-8000-00000000000${seq}`,
      at: `2026-11-26T10:00:0${seq}.000Z`,
      workspaceId: 'ws',
      chain: 'ws',
      seq,
      actor: { type: 'api_key' as const, id: 'k', name: 'ops' },
      action: 'server.update',
      resource: { type: 'server', id: 's' },
      outcome: 'success' as const,
      status: null,
      source: { requestId: `r${seq}`, traceId: null, clientAddress: '127.0.0.1', userAgent: null },
      changes: { name: { before: 'a', after: `b${seq}` } },
      details: null,
      prevHash: events.at(-1)?.hash ?? AUDIT_GENESIS_HASH,
    };
    events.push({ ...unhashed, hash: auditEventHash(unhashed) });
  }
  return events;
}

describe('auditEventHash', () => {
  it('is the same for the same content whatever the key order, and changes with any field', () => {
    const [e] = chain(1);
    const reordered = JSON.parse(
      JSON.stringify({ hash: e!.hash, ...Object.fromEntries(Object.entries(e!).reverse()) }),
    );
    expect(auditEventHash(reordered)).toBe(e!.hash);
    expect(auditEventHash({ ...e!, changes: { name: { before: 'a', after: 'c' } } })).not.toBe(e!.hash);
    expect(auditEventHash({ ...e!, actor: { ...e!.actor, name: 'other' } })).not.toBe(e!.hash);
    expect(e!.hash).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('AuditChainVerifier', () => {
  const walk = (events: AuditEvent[], verifier = new AuditChainVerifier()) => {
    for (const e of events) {
      const broken = verifier.next(e);
      if (broken) return broken;
    }
    return undefined;
  };

  it('accepts an intact chain, from its start or from the oldest event retention kept', () => {
    const events = chain(5);
    expect(walk(events)).toBeUndefined();
    expect(walk(events.slice(2))).toBeUndefined();
  });

  it('names an edited event (hash), a removed one (seq) and a relinked one (prev_hash)', () => {
    const edited = chain(5);
    edited[2] = { ...edited[2]!, action: 'server.delete' };
    expect(walk(edited)).toMatchObject({ seq: 3, reason: 'hash' });

    const removed = chain(5);
    removed.splice(2, 1);
    expect(walk(removed)).toMatchObject({ seq: 4, reason: 'seq' });

    // Event 3 rewritten with a valid hash of its own, but not linked to event 2.
    const relinked = chain(5);
    const { hash: _h, ...rest } = { ...relinked[2]!, prevHash: AUDIT_GENESIS_HASH };
    relinked[2] = { ...rest, hash: auditEventHash(rest) };
    expect(walk(relinked)).toMatchObject({ seq: 3, reason: 'prev_hash' });

    const forgedStart = chain(1);
    const { hash: _f, ...first } = { ...forgedStart[0]!, prevHash: 'f'.repeat(64) };
    expect(walk([{ ...first, hash: auditEventHash(first) }])).toMatchObject({ seq: 1, reason: 'prev_hash' });
  });
});
