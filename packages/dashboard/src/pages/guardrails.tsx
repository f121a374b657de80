import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { Success } from '../components/form.tsx';
import { Show } from '../ui.tsx';
import { byId, FormAndList, serverList, useLists, useRowDelete } from '../components/list-page.tsx';
import { GuardrailForm } from './guardrails/form.tsx';
import { type Guardrail } from './guardrails/fields.tsx';
import { GuardrailsTable } from './guardrails/table.tsx';
import { WouldBeSections } from './guardrails/would-be.tsx';

/** The workspace's guardrails (ADR 0050): detectors on results and arguments, and what log-only ones would do. */
export function GuardrailsPage({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useLists(client, (c) => ({
    guardrails: unwrap(c.GET('/guardrails')),
    servers: serverList(c),
  }));
  const [editing, setEditing] = useState<Guardrail | null>(null);
  // The form's outcome, kept here: an edited guardrail's form goes once it is saved.
  const [saved, setSaved] = useState<string | null>(null);
  const onSaved = (message: string) => {
    setSaved(message);
    setEditing(null);
    reload();
  };
  const edit = (g: Guardrail) => {
    setSaved(null);
    setEditing(g);
  };
  const { error, ...deletion } = useRowDelete((id) => unwrap(client.DELETE('/guardrails/{id}', byId(id))), reload);
  return (
    <>
      <h1>Guardrails</h1>
      <p className="hint">
        What comes back, and what is sent: detectors on tool results (in the worker, before a result leaves the data
        plane) and on calls’ arguments (at the edge). Findings name the detector and the JSON path, never the value.
      </p>
      <Show loaded={loaded} what="the guardrails">
        {({ guardrails, servers }) => (
          <>
            <FormAndList
              form={
                <GuardrailForm
                  key={editing?.id ?? 'new'}
                  client={client}
                  servers={servers}
                  editing={editing}
                  onSaved={onSaved}
                  onCancel={() => setEditing(null)}
                />
              }
              between={<Success>{saved}</Success>}
              section={{ id: 'guardrails', title: 'Guardrails', failed: 'Not deleted' }}
              failure={error}
            >
              <GuardrailsTable guardrails={guardrails} servers={servers} deletion={deletion} onEdit={edit} />
            </FormAndList>
            {guardrails.some((g) => !g.enforce) && <WouldBeSections client={client} servers={servers} />}
          </>
        )}
      </Show>
    </>
  );
}
