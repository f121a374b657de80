import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

/**
 * The arguments of a recorded call, kept for the records' retention so that only the backtest can read them (ADR 0080):
 * the worker seals each call's arguments with AES-256-GCM under a data key of its own (random, one per process and
 * hour), which it wraps once to the control plane's X25519 public key (ephemeral ECDH → HKDF-SHA256 → AES-256-GCM). The
 * worker can seal and never open; only the process holding the private key (the control plane's backtest) opens them.
 * The record's id is the associated data: a sealed value moved to another record does not open.
 *
 * Cost per call: the data key is held as a `KeyObject` (a raw `Buffer` key made `createCipheriv` check and
 * import it on every call, about 13 µs), and a call's IV is the data key's invocation counter (NIST SP 800-38D §8.2.1,
 * the deterministic construction: 32 zero bits, then a 64-bit count from 1), unique under its key because every data
 * key is fresh random bytes and counts from 1; no random bytes drawn per call. The wrap of a data key keeps a random IV.
 *
 * Text form: `a1.<wrapped data key>.<iv>.<tag>.<ciphertext>` (base64url), the wrapped key being `epk ‖ iv ‖ tag ‖ ct`.
 */

const VERSION = 'a1';
const info = Buffer.from('toolplane-record-arguments-v1');
/** A worker's data key is replaced after this long (the wrap, one X25519 per hour, is the only costly step). */
const DATA_KEY_MS = 3_600_000;
/** The raw X25519 public key is the last 32 bytes of its SPKI DER form. */
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

const b64 = (b: Buffer) => b.toString('base64url');

/**
 * A key given as text: PEM, or its DER on one line in base64 (SPKI for a public key, PKCS #8 for a private one), the
 * form an environment variable holds without line breaks.
 */
function keyFromText(text: string, kind: 'public' | 'private'): KeyObject {
  const trimmed = text.trim();
  const pem = trimmed.startsWith('-----BEGIN');
  const der = pem ? undefined : Buffer.from(trimmed, 'base64');
  const object =
    kind === 'public'
      ? createPublicKey(der ? { key: der, format: 'der', type: 'spki' } : trimmed)
      : createPrivateKey(der ? { key: der, format: 'der', type: 'pkcs8' } : trimmed);
  if (object.asymmetricKeyType !== 'x25519') throw new Error(`the record-arguments ${kind} key must be an X25519 key`);
  return object;
}

function gcmSeal(
  key: Buffer | KeyObject,
  plain: Buffer,
  aad: Buffer,
  iv: Buffer = randomBytes(12),
): { iv: Buffer; tag: Buffer; ct: Buffer } {
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ct };
}

function gcmOpen(key: Buffer, parts: { iv: Buffer; tag: Buffer; ct: Buffer }, aad: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, parts.iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(parts.tag);
  return Buffer.concat([decipher.update(parts.ct), decipher.final()]);
}

/** A worker's data key: the key, its wrap, until when it seals, how many IVs it has used. */
interface DataKey {
  key: KeyObject;
  wrapped: string;
  until: number;
  count: number;
}

/** The 96-bit IV of a data key's `count`th seal: 32 zero bits, then the count (below 2^53) in 64 bits, big-endian. */
function counterIv(count: number): Buffer {
  if (!Number.isSafeInteger(count) || count < 1)
    throw new RangeError(`an IV count must be a positive integer: ${count}`);
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(Math.floor(count / 0x1_0000_0000), 4);
  iv.writeUInt32BE(count >>> 0, 8);
  return iv;
}

/** Seals record arguments to the control plane's public key (the worker: it cannot open what it sealed). */
export class RecordArgumentsSealer {
  private readonly recipient: KeyObject;
  private current: DataKey | undefined;
  private readonly now: () => number;
  /** `publicKey`: PEM, or base64 DER (SPKI) on one line. */
  constructor(publicKey: string, now: () => number = Date.now) {
    this.recipient = keyFromText(publicKey, 'public');
    this.now = now;
  }

  private dataKey(): DataKey {
    const now = this.now();
    if (this.current && now < this.current.until) return this.current;
    const key = randomBytes(32);
    const eph = generateKeyPairSync('x25519');
    const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: this.recipient });
    const epk = eph.publicKey.export({ type: 'spki', format: 'der' }).subarray(SPKI_X25519_PREFIX.length);
    const kek = Buffer.from(hkdfSync('sha256', shared, epk, info, 32));
    const { iv, tag, ct } = gcmSeal(kek, key, info);
    const wrapped = b64(Buffer.concat([epk, iv, tag, ct]));
    this.current = { key: createSecretKey(key), wrapped, until: now + DATA_KEY_MS, count: 0 };
    key.fill(0); // the KeyObject holds its own copy

    return this.current;
  }

  /** The arguments sealed for the record `recordId`. */
  seal(args: unknown, recordId: string): string {
    const current = this.dataKey();
    const plain = Buffer.from(JSON.stringify(args ?? {}));
    const { iv, tag, ct } = gcmSeal(current.key, plain, Buffer.from(recordId), counterIv(++current.count));
    const { wrapped } = current;
    return `${VERSION}.${wrapped}.${b64(iv)}.${b64(tag)}.${b64(ct)}`;
  }
}

/** Opens sealed record arguments (the control plane's backtest only), each data key unwrapped once. */
export class RecordArgumentsOpener {
  private readonly privateKey: KeyObject;
  private readonly keys = new Map<string, Buffer>();
  /** `privateKey`: PEM, or base64 DER (PKCS #8) on one line. */
  constructor(privateKey: string) {
    this.privateKey = keyFromText(privateKey, 'private');
  }

  private unwrap(wrapped: string): Buffer {
    const hit = this.keys.get(wrapped);
    if (hit) return hit;
    const raw = Buffer.from(wrapped, 'base64url');
    const epk = raw.subarray(0, 32);
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, epk]), format: 'der', type: 'spki' });
    const shared = diffieHellman({ privateKey: this.privateKey, publicKey });
    const kek = Buffer.from(hkdfSync('sha256', shared, epk, info, 32));
    const key = gcmOpen(kek, { iv: raw.subarray(32, 44), tag: raw.subarray(44, 60), ct: raw.subarray(60) }, info);
    // A few data keys per worker and hour: bounded all the same.
    if (this.keys.size >= 10_000) this.keys.clear();
    this.keys.set(wrapped, key);
    return key;
  }

  /** The arguments of record `recordId`; undefined when the value is not one of ours or does not open. */
  open(sealed: string, recordId: string): Record<string, unknown> | undefined {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) return undefined;
    try {
      const key = this.unwrap(parts[1]!);
      const [iv, tag, ct] = parts.slice(2).map((p) => Buffer.from(p, 'base64url')) as [Buffer, Buffer, Buffer];
      const value = JSON.parse(gcmOpen(key, { iv, tag, ct }, Buffer.from(recordId)).toString('utf8')) as unknown;
      return value !== null && typeof value === 'object' && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  }
}
