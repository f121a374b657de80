import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { useAction, type Action } from '../components/action.ts';
import {
  ActionError,
  Checks,
  CodeArea,
  SelectField,
  SubmitButton,
  Success,
  TextField,
  toggled,
} from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { findingsText, WouldBeDecisions, wouldText } from '../components/would-be-decisions.tsx';
import { Link } from '../router.tsx';
import { Show, useLoad } from '../ui.tsx';
import { Section } from '../components/section.tsx';
import { DeleteButton } from '../components/delete-button.tsx';
import { FormAndList, listsOf, serverList, useRowDelete } from '../components/list-page.tsx';

type Guardrail = Schemas['Guardrail'];
type Detector = Schemas['GuardrailDetector'];
type Server = Schemas['McpServerSummary'];
type RecordSummary = Schemas['ExecutionRecordSummary'];
type PiiType = NonNullable<Extract<Detector, { kind: 'pii' }>['types']>[number];

const piiTypes: { type: PiiType; label: string }[] = [
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

/** Names separated by commas, as a list (empty: not given). */
const listOf = (text: string) =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

/**
 * The form's fields (ADR 0050). `kept`: the edited guardrail's detectors, whose options the form does not show
 * (`ownSecrets`, `countries`, extra injection patterns, custom detectors after the first), sent back as they were.
 */
interface Draft {
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

const emptyDraft: Draft = {
  name: '',
  serverId: '',
  tools: '',
  onResults: true,
  onArguments: false,
  secrets: true,
  pii: true,
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

type SetDraft = (change: Partial<Draft>) => void;

/** Where it applies (every server, a server, some of its tools) and what it scans (results, arguments). */
function ScopeFields({ draft, set, servers }: { draft: Draft; set: SetDraft; servers: Server[] }) {
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
function DetectorFields({ draft, set }: { draft: Draft; set: SetDraft }) {
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

/** The guardrail's form: a new one, or the one being edited (`editing`), saved with PATCH. */
function GuardrailForm(props: {
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
    <Section id="guardrail-form" title={title}>
      <form className="form" onSubmit={submit}>
        <TextField id="guardrail-name" label="Name" required value={draft.name} onValue={(name) => set({ name })} />
        <ScopeFields draft={draft} set={set} servers={props.servers} />
        <DetectorFields draft={draft} set={set} />
        <ActionFields draft={draft} set={set} />
        <FormButtons action={save} editing={editing} disabled={!draft.name.trim()} onCancel={props.onCancel} />
      </form>
    </Section>
  );
}

/** What it does with a finding, and whether it only records that (log-only mode). */
function ActionFields({ draft, set }: { draft: Draft; set: SetDraft }) {
  return (
    <>
      <SelectField
        id="guardrail-action"
        label="Action"
        value={draft.action}
        onValue={(action) => set({ action: action as Guardrail['action'] })}
        options={Object.entries(actionLabels).map(([value, label]) => ({ value, label }))}
      />
      <span>
        <input
          type="checkbox"
          id="guardrail-log-only"
          checked={draft.logOnly}
          onChange={(e) => set({ logOnly: e.target.checked })}
        />
        <label htmlFor="guardrail-log-only">Log only: change nothing, record what it would do</label>
      </span>
    </>
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

const serverName = (servers: Server[], id: string) => servers.find((s) => s.id === id)?.name ?? id;

function scopeText(g: Guardrail, servers: Server[]): string {
  if (!g.serverId) return 'every server';
  const name = serverName(servers, g.serverId);
  return g.tools.length > 0 ? `${g.tools.join(', ')} on ${name}` : `all tools of ${name}`;
}

function detectorText(d: Detector): string {
  if (d.kind === 'pii') return d.types ? `personal data (${d.types.join(', ')})` : 'personal data';
  if (d.kind === 'custom') return `${d.label ?? 'custom'}: ${d.patterns.length} pattern(s)`;
  return d.kind === 'secrets' ? 'secrets' : 'prompt injection';
}

function GuardrailsTable(props: {
  guardrails: Guardrail[];
  servers: Server[];
  deleting: string | null;
  onEdit: (g: Guardrail) => void;
  onDelete: (id: string) => void;
}) {
  const columns: Column<Guardrail>[] = [
    { header: 'Name', cell: (g) => g.name, rowHeader: true },
    { header: 'Applies to', cell: (g) => scopeText(g, props.servers) },
    { header: 'Scans', cell: (g) => g.on.join(', ') },
    { header: 'Detectors', cell: (g) => g.detectors.map(detectorText).join('; ') },
    { header: 'Action', cell: (g) => g.action },
    { header: 'Mode', cell: (g) => (g.enforce ? 'enforced' : 'log only') },
  ];
  return (
    <ResourceTable
      rows={props.guardrails}
      columns={columns}
      caption="Guardrails of the workspace"
      empty="No guardrail: results and arguments pass as they are."
      actions={(g) => (
        <>
          <button type="button" className="secondary" aria-label={`Edit ${g.name}`} onClick={() => props.onEdit(g)}>
            Edit
          </button>
          <DeleteButton
            name={g.name}
            then="Its servers get a catalog version without it."
            busy={props.deleting === g.id}
            onConfirm={() => props.onDelete(g.id)}
          />
        </>
      )}
    />
  );
}

const DAY_MS = 86_400_000;

/** The last day's records with a log-only guardrail's finding on a result (`guardrail_action=would_*`). */
function WouldBeFindings({ client, servers }: { client: ManagementClient; servers: Server[] }) {
  const [records] = useLoad(async () => {
    const from = new Date(Date.now() - DAY_MS).toISOString();
    const page = await unwrap(
      client.GET('/execution_records', { params: { query: { guardrail_action: 'would_*', from, limit: 100 } } }),
    );
    return page.data;
  }, [client]);
  const columns: Column<RecordSummary>[] = [
    { header: 'When', cell: (r) => <Link href={`/records/${r.id}`}>{new Date(r.started_at).toLocaleString()}</Link> },
    { header: 'Tool', cell: (r) => `${r.tool} on ${serverName(servers, r.server_id)}`, rowHeader: true },
    { header: 'Caller', cell: (r) => r.caller.key_name ?? r.caller.subject ?? r.caller.username ?? '—' },
    { header: 'What it would have done', cell: (r) => wouldFindings(r.guardrails) },
  ];
  return (
    <Section id="would-results" title="Would-be decisions on results (last 24 h)">
      <p className="hint">
        Results a log-only guardrail found something in: the caller got them unchanged. From the execution records.
      </p>
      <ResourceTable
        loaded={records}
        what="the would-be decisions on results"
        columns={columns}
        caption="Would-be decisions on results"
        empty="None in the last 24 hours."
      />
    </Section>
  );
}

/** A record's log-only findings, per guardrail and action: `shadow: would redact pii:email at $.x`. */
function wouldFindings(findings: RecordSummary['guardrails']): string {
  const groups = new Map<string, { detector: string; path: string }[]>();
  for (const f of findings.filter((x) => x.action.startsWith('would_'))) {
    const key = `${f.guardrail}: ${wouldText(f.action)}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  return [...groups].map(([key, found]) => `${key} ${findingsText(found)}`).join('; ');
}

/** The workspace's guardrails (ADR 0050): detectors on results and arguments, and what log-only ones would do. */
export function GuardrailsPage({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useLoad(
    () => listsOf({ guardrails: unwrap(client.GET('/guardrails')), servers: serverList(client) }),
    [client],
  );
  const [editing, setEditing] = useState<Guardrail | null>(null);
  // The form's outcome, kept here: an edited guardrail's form goes once it is saved.
  const [saved, setSaved] = useState<string | null>(null);
  const {
    pending: deleting,
    error,
    remove,
  } = useRowDelete((id) => unwrap(client.DELETE('/guardrails/{id}', { params: { path: { id } } })), reload);
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
                  onSaved={(message) => {
                    setSaved(message);
                    setEditing(null);
                    reload();
                  }}
                  onCancel={() => setEditing(null)}
                />
              }
              between={<Success>{saved}</Success>}
              section={{ id: 'guardrails', title: 'Guardrails', failed: 'Not deleted' }}
              failure={error}
            >
              <GuardrailsTable
                guardrails={guardrails}
                servers={servers}
                deleting={deleting}
                onEdit={(g) => {
                  setSaved(null);
                  setEditing(g);
                }}
                onDelete={remove}
              />
            </FormAndList>
            {guardrails.some((g) => !g.enforce) && <WouldBeSections client={client} servers={servers} />}
          </>
        )}
      </Show>
    </>
  );
}

function WouldBeSections({ client, servers }: { client: ManagementClient; servers: Server[] }) {
  return (
    <>
      <WouldBeFindings client={client} servers={servers} />
      <WouldBeDecisions
        client={client}
        action={['guardrail.would_redact', 'guardrail.would_block', 'guardrail.would_flag']}
        title="Would-be decisions on arguments (last 24 h)"
        hint="Calls whose arguments a log-only guardrail found something in: they were sent unchanged."
      />
    </>
  );
}
