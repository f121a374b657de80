import { type Schemas } from '../../api.ts';
import { CheckField, Checks, CodeArea, SelectField, TextField, toggled } from '../../components/form.tsx';

export type Guardrail = Schemas['Guardrail'];

export type Detector = Schemas['GuardrailDetector'];

export type Server = Schemas['McpServerSummary'];

type PiiType = NonNullable<Extract<Detector, { kind: 'pii' }>['types']>[number];

export const piiTypes: { type: PiiType; label: string }[] = [
  { type: 'email', label: 'e-mail' },
  { type: 'phone', label: 'phone' },
  { type: 'iban', label: 'IBAN' },
  { type: 'card', label: 'payment card' },
  { type: 'national_id', label: 'national id' },
];

const actionLabels: Record<Guardrail['action'], string> = {
  redact: 'redact (replace each match)',
  block: 'block (withhold the result, refuse the call)',
  flag: 'flag (pass it on, say what was found)',
};

/**
 * The form's fields (ADR 0050). `kept`: the edited guardrail's detectors, whose options the form does not show
 * (`ownSecrets`, `countries`, extra injection patterns, custom detectors after the first), sent back as they were.
 */
export interface Draft {
  name: string;
  serverId: string;
  tools: string;
  onResults: boolean;
  onArguments: boolean;
  secrets: boolean;
  pii: boolean;
  piiTypes: PiiType[];
  injection: boolean;
  custom: string;
  customLabel: string;
  action: Guardrail['action'];
  logOnly: boolean;
  kept: Detector[];
}

export type SetDraft = (change: Partial<Draft>) => void;

/** Where it applies (every server, a server, some of its tools) and what it scans (results, arguments). */
export function ScopeFields({ draft, set, servers }: { draft: Draft; set: SetDraft; servers: Server[] }) {
  return (
    <fieldset>
      <legend>Where</legend>
      <SelectField
        id="guardrail-server"
        label="Server"
        value={draft.serverId}
        onValue={(serverId) => set({ serverId })}
        options={[
          { value: '', label: 'every server of the workspace' },
          ...servers.map((s) => ({ value: s.id, label: s.name })),
        ]}
      />
      {draft.serverId && (
        <TextField
          id="guardrail-tools"
          label="Tools of the server (separated by commas; empty: all its tools)"
          value={draft.tools}
          onValue={(tools) => set({ tools })}
        />
      )}
      <Checks
        items={['results', 'arguments'] as const}
        idOf={(t) => `guardrail-on-${t}`}
        labelOf={(t) => (t === 'results' ? 'Scan results (in the worker)' : 'Scan arguments (at the edge)')}
        checked={(t) => (t === 'results' ? draft.onResults : draft.onArguments)}
        onToggle={(t, on) => set(t === 'results' ? { onResults: on } : { onArguments: on })}
      />
    </fieldset>
  );
}

/** Which detectors look: secrets, personal data (which kinds), injection markers, the guardrail's own RE2 patterns. */
export function DetectorFields({ draft, set }: { draft: Draft; set: SetDraft }) {
  return (
    <fieldset>
      <legend>What it looks for</legend>
      <Checks
        items={['secrets', 'pii', 'injection'] as const}
        idOf={(k) => `guardrail-detector-${k}`}
        labelOf={(k) =>
          ({ secrets: 'Secrets (credential shapes)', pii: 'Personal data', injection: 'Prompt-injection markers' })[k]
        }
        checked={(k) => draft[k]}
        onToggle={(k, on) => set({ [k]: on })}
      />
      {draft.pii && (
        <Checks
          items={piiTypes}
          idOf={(p) => `guardrail-pii-${p.type}`}
          labelOf={(p) => p.label}
          checked={(p) => draft.piiTypes.includes(p.type)}
          onToggle={(p, on) => set({ piiTypes: toggled(draft.piiTypes, p.type, on) })}
        />
      )}
      <CodeArea
        id="guardrail-patterns"
        label="Custom patterns (RE2, one a line)"
        rows={3}
        value={draft.custom}
        onValue={(custom) => set({ custom })}
      />
      <TextField
        id="guardrail-label"
        label="Label of the custom patterns' findings (a-z, 0-9, _ and -)"
        value={draft.customLabel}
        onValue={(customLabel) => set({ customLabel })}
      />
    </fieldset>
  );
}

/** What it does with a finding, and whether it only records that (log-only mode). */
export function ActionFields({ draft, set }: { draft: Draft; set: SetDraft }) {
  return (
    <>
      <SelectField
        id="guardrail-action"
        label="Action"
        value={draft.action}
        onValue={(action) => set({ action: action as Guardrail['action'] })}
        options={Object.entries(actionLabels).map(([value, label]) => ({ value, label }))}
      />
      <CheckField
        id="guardrail-log-only"
        label="Log only: change nothing, record what it would do"
        checked={draft.logOnly}
        onValue={(logOnly) => set({ logOnly })}
      />
    </>
  );
}
