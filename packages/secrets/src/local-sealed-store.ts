import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  randomUUID,
  type KeyObject,
} from 'node:crypto';
import { link, mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '@toolplane/errors';
import {
  secretNamePattern,
  type SecretMetadata,
  type SecretsReader,
  type SecretsWriter,
  type SecretWriteResult,
  type VersionSelector,
} from './types.ts';

/**
 * The embedded secrets backend: one file per secret in a directory, each value sealed to the
 * worker's X25519 public key (ephemeral ECDH → HKDF-SHA256 → AES-256-GCM, the name and version id
 * as associated data). The control plane holds only the public key, so it can write secrets and
 * list their metadata but cannot read a value back; only the process holding the private key (the
 * worker) can open them. A rotation keeps the previous version (`previous`), like AWS `AWSPREVIOUS`.
 */
interface SealedValue {
  epk: string;
  iv: string;
  tag: string;
  ct: string;
}

/** Format 1 (before versions): one value, the name as associated data. Still read; rewritten as 2 on the next write. */
interface SealedFileV1 extends SealedValue {
  v: 1;
  name: string;
}

interface SealedVersion extends SealedValue {
  id: string;
  createdAt: string;
  /** Sealed by format 1 (associated data: the name only). */
  legacy?: true;
}

interface SealedFileV2 {
  v: 2;
  name: string;
  createdAt: string;
  updatedAt: string;
  /** Newest first: `versions[0]` is current, `versions[1]` previous. */
  versions: SealedVersion[];
}

type SealedFile = SealedFileV1 | SealedFileV2;

const info = Buffer.from('toolplane-sealed-secret-v1');
/** Versions kept per secret: the current one and the one it replaced. */
const keptVersions = 2;
const legacyVersionId = 'initial';

function fileFor(dir: string, name: string): string {
  return join(dir, createHash('sha256').update(name).digest('hex') + '.json');
}

function checkName(name: string): void {
  if (!secretNamePattern.test(name)) {
    throw new UserError('request.invalid', `invalid secret name "${name}": use letters, digits, _, - and /`);
  }
}

function deriveKey(shared: Buffer, epk: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, epk, info, 32));
}

function aad(name: string, version: SealedVersion): Buffer {
  return Buffer.from(version.legacy ? name : `${name}\0${version.id}`);
}

/** Reads a sealed file as format 2 (format 1 becomes one `initial` version). `undefined` when absent. */
async function readSealed(path: string): Promise<SealedFileV2 | undefined> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const file = JSON.parse(raw) as SealedFile;
  if (file.v === 2) return file;
  const at = new Date(0).toISOString();
  return {
    v: 2,
    name: file.name,
    createdAt: at,
    updatedAt: at,
    versions: [
      { id: legacyVersionId, createdAt: at, legacy: true, epk: file.epk, iv: file.iv, tag: file.tag, ct: file.ct },
    ],
  };
}

function metadataOf(file: SealedFileV2): SecretMetadata {
  return {
    name: file.name,
    version: file.versions[0]!.id,
    versions: file.versions.map((v, i) => ({
      id: v.id,
      stages: i === 0 ? ['current' as const] : i === 1 ? ['previous' as const] : [],
    })),
    createdAt: new Date(file.createdAt),
    updatedAt: new Date(file.updatedAt),
  };
}

export function generateSealingKeyPair(): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export class LocalSealedSecretsWriter implements SecretsWriter {
  private readonly recipient: KeyObject;
  private readonly dir: string;
  constructor(dir: string, publicKeyPem: string) {
    this.dir = dir;
    this.recipient = createPublicKey(publicKeyPem);
  }

  private seal(name: string, value: string): SealedVersion {
    const id = randomUUID();
    const eph = generateKeyPairSync('x25519');
    const epk = eph.publicKey.export({ type: 'spki', format: 'der' });
    const key = deriveKey(diffieHellman({ privateKey: eph.privateKey, publicKey: this.recipient }), epk);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const version: SealedVersion = {
      id,
      createdAt: new Date().toISOString(),
      epk: epk.toString('base64'),
      iv: iv.toString('base64'),
      tag: '',
      ct: '',
    };
    cipher.setAAD(aad(name, version));
    version.ct = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]).toString('base64');
    version.tag = cipher.getAuthTag().toString('base64');
    return version;
  }

  /** Writes `file` to a temporary name; `place` moves it into position. */
  private async write(file: SealedFileV2, place: (tmp: string, target: string) => Promise<void>): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const target = fileFor(this.dir, file.name);
    const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(file), { mode: 0o600 });
    try {
      await place(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async create(name: string, value: string): Promise<SecretWriteResult> {
    checkName(name);
    const version = this.seal(name, value);
    const file: SealedFileV2 = {
      v: 2,
      name,
      createdAt: version.createdAt,
      updatedAt: version.createdAt,
      versions: [version],
    };
    // link() fails when the target exists: creation is atomic, two creators cannot both win.
    await this.write(file, async (tmp, target) => {
      try {
        await link(tmp, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST')
          throw new UserError('resource.conflict', `a secret named "${name}" already exists`, { status: 409 });
        throw err;
      }
    });
    return { name, version: version.id, created: true };
  }

  async put(name: string, value: string): Promise<SecretWriteResult> {
    checkName(name);
    const existing = await readSealed(fileFor(this.dir, name));
    const version = this.seal(name, value);
    const file: SealedFileV2 = existing
      ? {
          ...existing,
          v: 2,
          updatedAt: version.createdAt,
          versions: [version, ...existing.versions].slice(0, keptVersions),
        }
      : { v: 2, name, createdAt: version.createdAt, updatedAt: version.createdAt, versions: [version] };
    await this.write(file, (tmp, target) => rename(tmp, target));
    return { name, version: version.id, created: !existing };
  }

  async delete(name: string): Promise<boolean> {
    checkName(name);
    try {
      await unlink(fileFor(this.dir, name));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async describe(name: string): Promise<SecretMetadata | undefined> {
    checkName(name);
    const file = await readSealed(fileFor(this.dir, name));
    return file ? metadataOf(file) : undefined;
  }

  async list(prefix: string): Promise<SecretMetadata[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: SecretMetadata[] = [];
    for (const entry of entries) {
      if (!entry.endsWith('.json')) continue;
      // Deleted between readdir and read: skipped.
      const file = await readSealed(join(this.dir, entry));
      if (file?.name.startsWith(prefix)) out.push(metadataOf(file));
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

export class LocalSealedSecretsReader implements SecretsReader {
  private readonly key: KeyObject;
  private readonly dir: string;
  constructor(dir: string, privateKeyPem: string) {
    this.dir = dir;
    this.key = createPrivateKey(privateKeyPem);
  }

  async get(name: string, version: VersionSelector = 'current'): Promise<string | undefined> {
    checkName(name);
    const file = await readSealed(fileFor(this.dir, name));
    if (!file) return undefined;
    const sealed =
      version === 'current'
        ? file.versions[0]
        : version === 'previous'
          ? file.versions[1]
          : file.versions.find((v) => v.id === version);
    if (!sealed) return undefined;
    const epkDer = Buffer.from(sealed.epk, 'base64');
    const epk = createPublicKey({ key: epkDer, format: 'der', type: 'spki' });
    const key = deriveKey(diffieHellman({ privateKey: this.key, publicKey: epk }), epkDer);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(aad(name, sealed));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64')), decipher.final()]).toString('utf8');
  }
}
