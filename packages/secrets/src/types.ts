/** Secret names: letters, digits, `_`, `-` and `/` as a namespace separator. */
export const secretNamePattern = /^[A-Za-z0-9_\-/]{1,512}$/;

/**
 * Version selectors every backend understands besides its own version ids: `current` (the value
 * in use) and `previous` (the value before the last rotation; AWS `AWSPREVIOUS`).
 */
export type VersionSelector = 'current' | 'previous' | (string & {});

/** One stored version of a secret: an opaque id and its labels. Never a value. */
export interface SecretVersionInfo {
  id: string;
  /** `current` for the value in use, `previous` for the one it replaced. */
  stages: ('current' | 'previous')[];
}

/** What may be known about a secret without reading it: names, versions, times. */
export interface SecretMetadata {
  /** The name the caller used (the backend's own prefix removed). */
  name: string;
  /** Id of the current version. */
  version: string;
  /** Versions the backend still holds (at least the current one), newest first where known. */
  versions: SecretVersionInfo[];
  createdAt: Date;
  updatedAt: Date;
}

/** Outcome of a write: the new version, and whether the secret did not exist before. */
export interface SecretWriteResult {
  name: string;
  version: string;
  created: boolean;
}

/**
 * Write side, held by the control plane. It can create, rotate, delete and list metadata, never
 * read a value: no method returns one, and its runtime identity has no key or permission to.
 */
export interface SecretsWriter {
  /** Creates a secret; a `resource.conflict` UserError (409) when one with this name exists. */
  create(name: string, value: string): Promise<SecretWriteResult>;
  /** Creates the secret or rotates it: the value becomes a new current version, the old one `previous`. */
  put(name: string, value: string): Promise<SecretWriteResult>;
  /** Deletes every version; resolves `false` when there was no such secret. */
  delete(name: string): Promise<boolean>;
  /** Metadata of one secret, or `undefined`. */
  describe(name: string): Promise<SecretMetadata | undefined>;
  /** Metadata of every secret whose name starts with `prefix`, sorted by name. */
  list(prefix: string): Promise<SecretMetadata[]>;
}

/** Read side, held only by the worker (the data plane). */
export interface SecretsReader {
  /**
   * Resolves the value of the current version (or of `version`: an id from `SecretMetadata`,
   * `current` or `previous`), or `undefined` when there is no such secret or version.
   */
  get(name: string, version?: VersionSelector): Promise<string | undefined>;
}
