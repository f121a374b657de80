import type { Schemas } from './api.ts';

export interface CredentialField {
  key: string;
  label: string;
  required: boolean;
}

/** The credential fields of a connector: its descriptor's authentication fields, or an OpenAPI connector's. */
export function credentialFields(c: Schemas['ConnectorWithDescriptor']): CredentialField[] {
  if (c.kind === 'openapi') return c.credentialFields.map((f) => ({ key: f.key, label: f.key, required: f.required }));
  const auth = Array.isArray(c.descriptor.authentication) ? (c.descriptor.authentication as unknown[]) : [];
  const fields: CredentialField[] = [];
  for (const method of auth) {
    const list = (method as { fields?: unknown }).fields;
    if (!Array.isArray(list)) continue;
    for (const f of list as { key?: unknown; label?: unknown; required?: unknown }[])
      if (typeof f.key === 'string' && !fields.some((x) => x.key === f.key))
        fields.push({
          key: f.key,
          label: typeof f.label === 'string' ? f.label : f.key,
          required: f.required === true,
        });
  }
  return fields;
}
