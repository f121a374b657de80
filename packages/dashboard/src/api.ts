import { createManagementClient, readProblem, type components, type ManagementClient } from '@toolplane/client';

export type Schemas = components['schemas'];

const KEY = 'toolplane.apiKey';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, key);
}

export function clientFor(apiKey: string): ManagementClient {
  return createManagementClient(window.location.origin, apiKey);
}

/** One problem of a rejected document or body: a JSON pointer and what is wrong there. */
export interface Issue {
  path: string;
  message: string;
}

/** A failed management call: the status and the problem+json body's title, detail, code and `errors`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  readonly issues: Issue[];
  constructor(status: number, message: string, code: string | undefined, issues: Issue[]) {
    super(message);
    this.status = status;
    this.code = code;
    this.issues = issues;
  }
}

function toApiError(status: number, body: unknown): ApiError {
  const { detail, code, issues } = readProblem(body, `request failed (${status})`);
  return new ApiError(status, detail, code, issues);
}

/** The data of an openapi-fetch call, or an `ApiError` thrown with its problem. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw toApiError(response.status, error);
  return data as T;
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (HTTP ${err.status}${err.code ? `, ${err.code}` : ''})`;
  return err instanceof Error ? err.message : String(err);
}
