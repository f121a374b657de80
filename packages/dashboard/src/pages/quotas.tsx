import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { useAction } from '../components/action.ts';
import { CheckField, Checks, SelectField, TextField, toggled, FormEnd } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { WouldBeDecisions } from '../components/would-be-decisions.tsx';
import { Link } from '../router.tsx';
import { Show } from '../ui.tsx';
import { FormSection } from '../components/section.tsx';
import { RowDeleteButton, type RowDeletion } from '../components/delete-button.tsx';
import {
  byId,
  FormAndList,
  serverList,
  useLists,
  useRowDelete,
  type CreateFormProps,
} from '../components/list-page.tsx';
import { BacktestButton } from '../components/backtest-button.tsx';
import { namesOf, quotaFile } from '../rule-files.ts';

type Quota = Schemas['Quota'];
type Body = Schemas['CreateQuotaBody'];
type Server = Schemas['McpServerSummary'];

const countsLabels: Record<Quota['counts'], string> = {
  calls: 'calls',
  cost: 'cost units',
  in_flight: 'calls in flight',
};
const perLabels = { '': 'one counter for all its calls', api_key: 'API key', person: 'person', subject: 'subject' };

/** Names separated by commas, as a list (empty: not given). */
const listOf = (text: string) =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

/** What a quota's `match` selects, in words. */
function matchText(q: Quota, servers: Server[]): string {
  const m = q.match;
  const parts = [
    m.tools && `tools ${m.tools.join(', ')}`,
    m.servers && `servers ${m.servers.map((id) => servers.find((s) => s.id === id)?.name ?? id).join(', ')}`,
    m.people && `people ${m.people.join(', ')}`,
    m.apiKeys && `${m.apiKeys.length} API key${m.apiKeys.length === 1 ? '' : 's'}`,
    m.subjects && `subjects ${m.subjects.join(', ')}`,
    m.claims && m.claims.map((c) => `${c.claim} contains ${c.contains}`).join(', '),
  ].filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : 'every call of the workspace';
}

/** The form's fields, as the API takes them (ADR 0048): empty fields are left out. */
interface Draft {
  name: string;
  counts: Quota['counts'];
  limit: string;
  window: string;
  timeZone: string;
  per: string;
  tools: string;
  people: string;
  serverIds: string[];
  shadow: boolean;
}

const emptyDraft: Draft = {
  name: '',
  counts: 'calls',
  limit: '',
  window: 'day',
  timeZone: '',
  per: '',
  tools: '',
  people: '',
  serverIds: [],
  shadow: false,
};

function bodyOf(d: Draft): Body {
  const tools = listOf(d.tools);
  const people = listOf(d.people);
  return {
    name: d.name.trim(),
    counts: d.counts,
    limit: Number(d.limit),
    match: {
      ...(tools.length > 0 ? { tools } : {}),
      ...(people.length > 0 ? { people } : {}),
      ...(d.serverIds.length > 0 ? { servers: d.serverIds } : {}),
    },
    ...(d.counts === 'in_flight' ? {} : { window: d.window as NonNullable<Body['window']> }),
    ...(d.timeZone.trim() ? { timeZone: d.timeZone.trim() } : {}),
    ...(d.per ? { per: d.per as NonNullable<Body['per']> } : {}),
    enforce: !d.shadow,
  };
}

type SetDraft = (change: Partial<Draft>) => void;

/** The calendar window of a calls or cost quota, and its time zone. */
function WindowFields({ draft, set }: { draft: Draft; set: SetDraft }) {
  return (
    <>
      <SelectField
        id="quota-window"
        label="Per"
        value={draft.window}
        onValue={(window) => set({ window })}
        options={['minute', 'hour', 'day', 'month'].map((w) => ({ value: w, label: w }))}
      />
      <TextField
        id="quota-zone"
        label="Time zone of the window (IANA name; empty: UTC)"
        placeholder="Europe/Berlin"
        value={draft.timeZone}
        onValue={(timeZone) => set({ timeZone })}
      />
    </>
  );
}

/** Which calls the quota counts: tools, people, servers (none given: every call of the workspace). */
function MatchFields({ draft, set, servers }: { draft: Draft; set: SetDraft; servers: Server[] }) {
  return (
    <fieldset>
      <legend>Which calls (empty: every call of the workspace)</legend>
      <TextField
        id="quota-tools"
        label="Tools (names or patterns with *, separated by commas)"
        value={draft.tools}
        onValue={(tools) => set({ tools })}
      />
      <TextField
        id="quota-people"
        label="People (external users, separated by commas)"
        value={draft.people}
        onValue={(people) => set({ people })}
      />
      <Checks
        items={servers}
        idOf={(s) => `quota-server-${s.id}`}
        labelOf={(s) => s.name}
        checked={(s) => draft.serverIds.includes(s.id)}
        onToggle={(s, on) => set({ serverIds: toggled(draft.serverIds, s.id, on) })}
      />
    </fieldset>
  );
}

function CreateQuota({ client, servers, onCreated }: CreateFormProps & { servers: Server[] }) {
  const [draft, setDraft] = useState<Draft>(emptyDraft);
  const set = (change: Partial<Draft>) => setDraft((d) => ({ ...d, ...change }));
  const create = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.run(() => unwrap(client.POST('/quotas', { body: bodyOf(draft) })), {
      then: (quota) => {
        setDraft(emptyDraft);
        onCreated();
        return `Created ${quota.name}.`;
      },
    });
  };
  return (
    <FormSection id="create-quota" title="Create a quota" onSubmit={submit} done={create.done}>
      <TextField id="quota-name" label="Name" required value={draft.name} onValue={(name) => set({ name })} />
      <SelectField
        id="quota-counts"
        label="Counts"
        value={draft.counts}
        onValue={(counts) => set({ counts: counts as Quota['counts'] })}
        options={Object.entries(countsLabels).map(([value, label]) => ({ value, label }))}
      />
      <TextField
        id="quota-limit"
        label="Limit"
        type="number"
        min={0}
        step={1}
        required
        value={draft.limit}
        onValue={(limit) => set({ limit })}
      />
      {draft.counts !== 'in_flight' && <WindowFields draft={draft} set={set} />}
      <SelectField
        id="quota-per"
        label="One counter for each"
        value={draft.per}
        onValue={(per) => set({ per })}
        options={Object.entries(perLabels).map(([value, label]) => ({ value, label }))}
      />
      <MatchFields draft={draft} set={set} servers={servers} />
      <CheckField
        id="quota-shadow"
        label="Shadow mode: refuse nothing, record what it would refuse"
        checked={draft.shadow}
        onValue={(shadow) => set({ shadow })}
      />
      <FormEnd
        action={create}
        failed="Not created"
        disabled={!draft.name.trim() || draft.limit === ''}
        busyLabel="Creating…"
      >
        Create quota
      </FormEnd>
      <BacktestButton
        client={client}
        documents={draft.name.trim() && draft.limit !== '' ? [quotaFile(bodyOf(draft), namesOf({ servers }))] : []}
      />
    </FormSection>
  );
}

function QuotasTable(props: { quotas: Quota[]; servers: Server[]; deletion: RowDeletion }) {
  const columns: Column<Quota>[] = [
    { header: 'Name', cell: (q) => q.name },
    {
      header: 'Limit',
      cell: (q) =>
        `${q.limit} ${countsLabels[q.counts]}${q.window ? ` per ${q.window}` : ''}` +
        (q.per ? `, each ${perLabels[q.per]}` : ''),
    },
    { header: 'Calls it counts', cell: (q) => matchText(q, props.servers) },
    { header: 'Mode', cell: (q) => (q.enforce ? 'enforced' : 'shadow') },
  ];
  return (
    <ResourceTable
      rows={props.quotas}
      columns={columns}
      caption="Quotas of the workspace"
      empty="No quota: calls are limited by access policies and rate limits only."
      actions={(q) => (
        <RowDeleteButton row={q} deletion={props.deletion} then="Edges stop counting it within a second." />
      )}
    />
  );
}

/** The workspace's quotas (ADR 0048): what each counts and its limit; what is left is on the Usage page. */
export function QuotasPage({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useLists(client, (c) => ({ quotas: unwrap(c.GET('/quotas')), servers: serverList(c) }));
  const { error, ...deletion } = useRowDelete((id) => unwrap(client.DELETE('/quotas/{id}', byId(id))), reload);
  return (
    <>
      <h1>Quotas</h1>
      <p className="hint">
        How much, not only who: each quota counts the calls it selects, across every edge, and refuses those past its
        limit. What is left in each window: <Link href="/usage">Usage</Link>.
      </p>
      <Show loaded={loaded} what="the quotas">
        {({ quotas, servers }) => (
          <>
            <FormAndList
              form={<CreateQuota client={client} servers={servers} onCreated={reload} />}
              section={{ id: 'quotas', title: 'Quotas', failed: 'Not deleted' }}
              failure={error}
            >
              <QuotasTable quotas={quotas} servers={servers} deletion={deletion} />
            </FormAndList>
            <WouldBeDecisions client={client} action="quota.would_refuse" rules={quotas} />
          </>
        )}
      </Show>
    </>
  );
}
