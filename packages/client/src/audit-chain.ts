import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { AUDIT_GENESIS_HASH, type AuditEvent } from '@toolplane/contracts';

/** The text an event's hash is taken of: its RFC 8785 canonical JSON, every field but `hash`. */
export function auditEventCanonical(event: Omit<AuditEvent, 'hash'> & { hash?: string }): string {
  const { hash: _hash, ...rest } = event;
  return canonicalize(rest) ?? '';
}

/** The hash an event must carry: SHA-256 (hex) of its canonical JSON (`auditEventCanonical`). */
export function auditEventHash(event: Omit<AuditEvent, 'hash'> & { hash?: string }): string {
  return createHash('sha256').update(auditEventCanonical(event)).digest('hex');
}

/** Where a chain breaks: the event, and why. */
export interface BrokenLink {
  id: string;
  seq: number;
  reason: 'hash' | 'prev_hash' | 'seq';
  message: string;
}

/**
 * Walks events of one chain in `seq` order and returns the first broken link, if any. `previous` is the event
 * before the first one given (undefined: the first given must be the chain's first, or the oldest retention kept,
 * whose `prevHash` is then taken as given).
 */
export class AuditChainVerifier {
  private last: { seq: number; hash: string } | undefined;
  checked = 0;

  constructor(previous?: { seq: number; hash: string }) {
    this.last = previous;
  }

  next(event: AuditEvent): BrokenLink | undefined {
    this.checked++;
    const computed = auditEventHash(event);
    if (computed !== event.hash)
      return { id: event.id, seq: event.seq, reason: 'hash', message: `its content does not match its hash` };
    const last = this.last;
    this.last = { seq: event.seq, hash: event.hash };
    if (last === undefined) {
      if (event.seq === 1 && event.prevHash !== AUDIT_GENESIS_HASH)
        return {
          id: event.id,
          seq: event.seq,
          reason: 'prev_hash',
          message: 'the first event does not start the chain',
        };
      return undefined;
    }
    if (event.seq !== last.seq + 1)
      return {
        id: event.id,
        seq: event.seq,
        reason: 'seq',
        message: `expected event ${last.seq + 1} after ${last.seq}`,
      };
    if (event.prevHash !== last.hash)
      return {
        id: event.id,
        seq: event.seq,
        reason: 'prev_hash',
        message: `its prevHash is not the hash of event ${last.seq}`,
      };
    return undefined;
  }
}
