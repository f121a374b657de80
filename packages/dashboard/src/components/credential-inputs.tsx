import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { credentialFields, type CredentialField } from '../credentials.ts';
import { Empty, SecretInput, Show, useLoad, type Loaded } from '../ui.tsx';

/** The credential fields of connector `connectorId` (none without one). */
export function useCredentialFields(
  client: ManagementClient,
  connectorId: string | undefined,
): Loaded<CredentialField[]> {
  const [fields] = useLoad(
    async () =>
      connectorId
        ? credentialFields(await unwrap(client.GET('/connectors/{id}', { params: { path: { id: connectorId } } })))
        : [],
    [client, connectorId],
  );
  return fields;
}

/** Only the values typed in (an empty field sends nothing). */
export const typedValues = (values: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));

/**
 * The credential fields of a connector, each a masked, write-only input. `stored`: the fields the instance has a
 * value for (changing it: an empty field keeps the stored value, so none is required).
 */
export function CredentialInputs({
  idPrefix,
  fields,
  values,
  onChange,
  stored,
}: {
  idPrefix: string;
  fields: Loaded<CredentialField[]>;
  values: Record<string, string>;
  onChange: (values: Record<string, string>) => void;
  stored?: string[];
}) {
  return (
    <Show loaded={fields} what="the credential fields">
      {(list) =>
        list.length === 0 ? (
          <Empty>This connector needs no credentials.</Empty>
        ) : (
          list.map((f) => (
            <div key={f.key} className="field">
              <label htmlFor={`${idPrefix}-${f.key}`}>
                {f.label}{' '}
                {stored?.includes(f.key) ? (
                  <span>(set: leave empty to keep it)</span>
                ) : (
                  f.required && <span>(required)</span>
                )}
              </label>
              <SecretInput
                id={`${idPrefix}-${f.key}`}
                required={f.required && !stored?.includes(f.key)}
                value={values[f.key] ?? ''}
                onValue={(v) => onChange({ ...values, [f.key]: v })}
              />
            </div>
          ))
        )
      }
    </Show>
  );
}
