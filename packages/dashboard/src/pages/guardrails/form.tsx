import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { useAction, type Action } from '../../components/action.ts';
import { ActionError, SubmitButton, TextField } from '../../components/form.tsx';
import { FormSection } from '../../components/section.tsx';
import { BacktestButton } from '../../components/backtest-button.tsx';
import { guardrailFile, namesOf } from '../../rule-files.ts';
import {
  ActionFields,
  DetectorFields,
  ScopeFields,
  piiTypes,
  type Detector,
  type Draft,
  type Guardrail,
  type Server,
  type SetDraft,
} from './fields.tsx';

/** Names separated by commas, as a list (empty: not given). */
const listOf = (text: string) =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

const emptyDraft: Draft = {
  name: '',
  serverId: '',
  tools: '',
  onResults: true,
  onArguments: false,
  // No detector chosen for the person: one custom pattern must not bring a broad redactor with it. Personal data,
  // once checked, starts with every kind (narrowed by unchecking).
  secrets: false,
  pii: false,
  piiTypes: piiTypes.map((p) => p.type),
  injection: false,
  custom: '',
  customLabel: '',
  action: 'redact',
  logOnly: false,
  kept: [],
};

function draftOf(g: Guardrail): Draft {
  const of = <K extends Detector['kind']>(kind: K) =>
    g.detectors.find((d): d is Extract<Detector, { kind: K }> => d.kind === kind);
  const custom = of('custom');
  return {
    name: g.name,
    serverId: g.serverId ?? '',
    tools: g.tools.join(', '),
    onResults: g.on.includes('results'),
    onArguments: g.on.includes('arguments'),
    secrets: of('secrets') !== undefined,
    pii: of('pii') !== undefined,
    piiTypes: of('pii')?.types ?? piiTypes.map((p) => p.type),
    injection: of('prompt_injection') !== undefined,
    custom: custom?.patterns.join('\n') ?? '',
    customLabel: custom?.label ?? '',
    action: g.action,
    logOnly: !g.enforce,
    kept: g.detectors,
  };
}

/** The detectors the form describes, in the API's form; the options it does not show kept from `kept`. */
function detectorsOf(d: Draft): Detector[] {
  const kept = <K extends Detector['kind']>(kind: K) =>
    d.kept.filter((x): x is Extract<Detector, { kind: K }> => x.kind === kind);
  const patterns = d.custom
    .split('\n')
    .map((p) => p.trim())
    .filter(Boolean);
  const pii = kept('pii')[0];
  return [
    ...(d.secrets ? [kept('secrets')[0] ?? { kind: 'secrets' as const }] : []),
    ...(d.pii
      ? [
          {
            kind: 'pii' as const,
            ...(d.piiTypes.length < piiTypes.length ? { types: d.piiTypes } : {}),
            ...(pii?.countries ? { countries: pii.countries } : {}),
          },
        ]
      : []),
    ...(d.injection ? [kept('prompt_injection')[0] ?? { kind: 'prompt_injection' as const }] : []),
    ...(patterns.length > 0
      ? [{ kind: 'custom' as const, patterns, ...(d.customLabel.trim() ? { label: d.customLabel.trim() } : {}) }]
      : []),
    ...kept('custom').slice(1),
  ];
}

function bodyOf(d: Draft): Schemas['CreateGuardrailBody'] {
  const tools = d.serverId ? listOf(d.tools) : [];
  return {
    name: d.name.trim(),
    serverId: d.serverId || null,
    tools,
    detectors: detectorsOf(d),
    action: d.action,
    on: [...(d.onResults ? ['results' as const] : []), ...(d.onArguments ? ['arguments' as const] : [])],
    enforce: !d.logOnly,
  };
}

/** The guardrail's form: a new one, or the one being edited (`editing`), saved with PATCH. */
export function GuardrailForm(props: {
  client: ManagementClient;
  servers: Server[];
  editing: Guardrail | null;
  onSaved: (message: string) => void;
  onCancel: () => void;
}) {
  const { client, editing } = props;
  const [draft, setDraft] = useState<Draft>(editing ? draftOf(editing) : emptyDraft);
  const set: SetDraft = (change) => setDraft((d) => ({ ...d, ...change }));
  const save = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = bodyOf(draft);
    const call = editing
      ? () => unwrap(client.PATCH('/guardrails/{id}', { params: { path: { id: editing.id } }, body }))
      : () => unwrap(client.POST('/guardrails', { body }));
    save.run(call, {
      then: (g) => {
        if (!editing) setDraft(emptyDraft);
        props.onSaved(`${editing ? 'Saved' : 'Created'} ${g.name}.`);
      },
    });
  };
  const title = editing ? `Edit ${editing.name}` : 'Create a guardrail';
  return (
    <FormSection id="guardrail-form" title={title} onSubmit={submit}>
      <TextField id="guardrail-name" label="Name" required value={draft.name} onValue={(name) => set({ name })} />
      <ScopeFields draft={draft} set={set} servers={props.servers} />
      <DetectorFields draft={draft} set={set} />
      <ActionFields draft={draft} set={set} />
      <FormButtons action={save} editing={editing} disabled={!draft.name.trim()} onCancel={props.onCancel} />
      <BacktestButton
        client={client}
        documents={draft.name.trim() ? [guardrailFile(bodyOf(draft), namesOf({ servers: props.servers }))] : []}
      />
    </FormSection>
  );
}

function FormButtons(props: { action: Action; editing: Guardrail | null; disabled: boolean; onCancel: () => void }) {
  const { action, editing } = props;
  return (
    <>
      <ActionError action={action} title={editing ? 'Not saved' : 'Not created'} />
      <div>
        <SubmitButton busy={action.busy} disabled={props.disabled} busyLabel={editing ? 'Saving…' : 'Creating…'}>
          {editing ? 'Save guardrail' : 'Create guardrail'}
        </SubmitButton>
        {editing && (
          <button type="button" className="secondary" onClick={props.onCancel}>
            Cancel editing
          </button>
        )}
      </div>
    </>
  );
}
