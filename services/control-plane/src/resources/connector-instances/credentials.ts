import type { credentialFields } from '@toolplane/openapi';

type Field = ReturnType<typeof credentialFields>[number];

/**
 * What is wrong with credentials given for a descriptor's fields: a required field neither given nor `stored`, or a
 * given key the descriptor does not declare (also used for external users' connections).
 */
export function credentialIssues(fields: Field[], given: Record<string, string>, stored: string[] = []) {
  return [
    ...fields
      .filter((f) => f.required && !given[f.key] && !stored.includes(f.key))
      .map((f) => ({ path: `/credentials/${f.key}`, message: `credential "${f.key}" is required by the descriptor` })),
    ...Object.keys(given)
      .filter((k) => !fields.some((f) => f.key === k))
      .map((k) => ({ path: `/credentials/${k}`, message: `the descriptor declares no credential field "${k}"` })),
  ];
}
