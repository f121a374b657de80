import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '@toolplane/errors';
import { secretNamePattern, type SecretsReader, type SecretsWriter } from './types.ts';

/**
 * The embedded secrets backend: one file per secret in a directory, each value sealed to the
 * worker's X25519 public key (ephemeral ECDH → HKDF-SHA256 → AES-256-GCM). The control plane holds
 * only the public key, so it can write secrets but cannot read them back; only the process holding
 * the private key (the worker) can open them.
 */
interface SealedFile {
  v: 1;
  name: string;
  epk: string;
  iv: string;
  tag: string;
  ct: string;
}

const info = Buffer.from('toolplane-sealed-secret-v1');

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

  async put(name: string, value: string): Promise<void> {
    checkName(name);
    const eph = generateKeyPairSync('x25519');
    const epk = eph.publicKey.export({ type: 'spki', format: 'der' });
    const key = deriveKey(diffieHellman({ privateKey: eph.privateKey, publicKey: this.recipient }), epk);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(name));
    const ct = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    const sealed: SealedFile = { v: 1, name, epk: epk.toString('base64'), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64') };
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const target = fileFor(this.dir, name);
    const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(sealed), { mode: 0o600 });
    await rename(tmp, target);
  }

  async delete(name: string): Promise<void> {
    checkName(name);
    await rm(fileFor(this.dir, name), { force: true });
  }
}

export class LocalSealedSecretsReader implements SecretsReader {
  private readonly key: KeyObject;
  private readonly dir: string;
  constructor(dir: string, privateKeyPem: string) {
    this.dir = dir;
    this.key = createPrivateKey(privateKeyPem);
  }

  async get(name: string): Promise<string | undefined> {
    checkName(name);
    let raw: string;
    try {
      raw = await readFile(fileFor(this.dir, name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const sealed = JSON.parse(raw) as SealedFile;
    const epkDer = Buffer.from(sealed.epk, 'base64');
    const epk = createPublicKey({ key: epkDer, format: 'der', type: 'spki' });
    const key = deriveKey(diffieHellman({ privateKey: this.key, publicKey: epk }), epkDer);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(Buffer.from(name));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64')), decipher.final()]).toString('utf8');
  }
}
