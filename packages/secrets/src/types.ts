/** Secret names: letters, digits, `_`, `-` and `/` as a namespace separator. */
export const secretNamePattern = /^[A-Za-z0-9_\-/]{1,512}$/;

/** Write side, held by the control plane. It can create and delete, never read. */
export interface SecretsWriter {
  put(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
}

/** Read side, held only by the worker (the data plane). */
export interface SecretsReader {
  /** Resolves the value, or `undefined` when no such secret exists. */
  get(name: string): Promise<string | undefined>;
}
