import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { useAction } from '../components/action.ts';
import { Checks, SelectField, Success, TextField, toggled, FormEnd } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { WouldBeDecisions } from '../components/would-be-decisions.tsx';
import { Link } from '../router.tsx';
import { Show, useLoad } from '../ui.tsx';
import { Section } from '../components/section.tsx';
import { DeleteButton } from '../components/delete-button.tsx';
import { FormAndList, listsOf, serverList, useRowDelete } from '../components/list-page.tsx';

type Principal = Schemas['AccessPolicyBody']['principals'][number];
type Policy = Schemas['AccessPolicy'];
type Key = Schemas['ApiKey'];
type Server = Schemas['McpServerSummary'];
type Approvers = NonNullable<Policy['approval']>['approvers'];

/** A comma-separated list as the API takes it: its trimmed names, or nothing. */
const names = (text: string) =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

const principalTypes: { type: Principal['type']; label: string }[] = [
  { type: 'api_key', label: 'API key' },
  { type: 'oauth_subject', label: 'OAuth subject' },
  { type: 'oauth_group', label: 'OAuth group' },
  { type: 'external_user', label: 'External user' },
  { type: 'external_group', label: 'SCIM group' },
];
const typeLabel = (t: Principal['type']) => principalTypes.find((p) => p.type === t)?.label ?? t;

/** One principal of the form: its kind, and its value (an API key of the workspace, or a name or `*`). */
function PrincipalRow({
  index: i,
  principal: p,
  keys,
  onChange,
}: {
  index: number;
  principal: Principal;
  keys: Key[];
  onChange: (p: Partial<Principal>) => void;
}) {
  return (
    <>
      <SelectField
        inline
        id={`principal-type-${i}`}
        label={`Kind of principal ${i + 1}`}
        value={p.type}
        onValue={(type) => onChange({ type: type as Principal['type'], value: '' })}
        options={principalTypes.map((t) => ({ value: t.type, label: t.label }))}
      />
      <div className="field">
        <label htmlFor={`principal-value-${i}`}>
          {p.type === 'api_key' ? 'Key' : 'Value'} of principal {i + 1}
        </label>
        {p.type === 'api_key' ? (
          <select
            id={`principal-value-${i}`}
            required
            value={p.value}
            onChange={(e) => onChange({ value: e.target.value })}
          >
            <option value="">Choose a key</option>
            {keys
              .filter((k) => !k.revokedAt)
              .map((k) => (
                <option key={k.id} value={k.id}>
                  {k.name} ({k.prefix}…)
                </option>
              ))}
          </select>
        ) : (
          <input
            id={`principal-value-${i}`}
            required
            placeholder="a name, or *"
            value={p.value}
            onChange={(e) => onChange({ value: e.target.value })}
          />
        )}
      </div>
    </>
  );
}

function Principals({
  principals,
  keys,
  onChange,
}: {
  principals: Principal[];
  keys: Key[];
  onChange: (p: Principal[]) => void;
}) {
  return (
    <fieldset>
      <legend>Who (principals)</legend>
      {principals.map((p, i) => (
        <div className="inline-form" key={i}>
          <PrincipalRow
            index={i}
            principal={p}
            keys={keys}
            onChange={(change) => onChange(principals.map((x, j) => (j === i ? { ...x, ...change } : x)))}
          />
          {principals.length > 1 && (
            <button
              type="button"
              className="secondary"
              onClick={() => onChange(principals.filter((_, j) => j !== i))}
              aria-label={`Remove principal ${i + 1}`}
            >
              Remove
            </button>
          )}
        </div>
      ))}
      <button
        type="button"
        className="secondary"
        onClick={() => onChange([...principals, { type: 'api_key', value: '' }])}
      >
        Add a principal
      </button>
    </fieldset>
  );
}

/** Which servers: every one (`*`), or those checked. */
function Servers(props: {
  servers: Server[];
  all: boolean;
  onAll: (all: boolean) => void;
  serverIds: string[];
  onServerIds: (ids: string[]) => void;
}) {
  return (
    <fieldset>
      <legend>Which servers</legend>
      <Checks
        items={props.all ? [] : props.servers}
        idOf={(s) => `policy-server-${s.id}`}
        labelOf={(s) => s.name}
        checked={(s) => props.serverIds.includes(s.id)}
        onToggle={(s, on) => props.onServerIds(toggled(props.serverIds, s.id, on))}
      >
        <span>
          <input
            type="checkbox"
            id="policy-all-servers"
            checked={props.all}
            onChange={(e) => props.onAll(e.target.checked)}
          />
          <label htmlFor="policy-all-servers">Every server (*)</label>
        </span>
      </Checks>
    </fieldset>
  );
}

/** What a false condition does, and who approves the calls it holds (as `approval.approvers` takes them). */
interface OutcomeState {
  condition: string;
  onFalse: 'refuse' | 'require_approval';
  keyIds: string[];
  subjects: string;
  groups: string;
  people: string;
  approvals: string;
}

const noOutcome: OutcomeState = {
  condition: '',
  onFalse: 'refuse',
  keyIds: [],
  subjects: '',
  groups: '',
  people: '',
  approvals: '1',
};

/** The body's `condition`, `onFalse` and `approval` of the form's outcome. */
function outcomeBody(o: OutcomeState): Partial<Schemas['AccessPolicyBody']> {
  const condition = o.condition.trim();
  if (!condition) return {};
  if (o.onFalse === 'refuse') return { condition };
  const approvers: Approvers = {};
  if (o.keyIds.length > 0) approvers.apiKeys = o.keyIds;
  if (names(o.subjects).length > 0) approvers.subjects = names(o.subjects);
  if (names(o.groups).length > 0) approvers.groups = names(o.groups);
  if (names(o.people).length > 0) approvers.people = names(o.people);
  return { condition, onFalse: 'require_approval', approval: { approvers, approvals: Number(o.approvals) } };
}

function Outcome({
  keys,
  value: o,
  onChange,
}: {
  keys: Key[];
  value: OutcomeState;
  onChange: (o: OutcomeState) => void;
}) {
  const set = (change: Partial<OutcomeState>) => onChange({ ...o, ...change });
  return (
    <fieldset>
      <legend>Condition</legend>
      <TextField
        id="policy-condition"
        label="Condition (CEL, optional: the grant holds only for the calls it is true for)"
        placeholder="args.amount <= 100"
        value={o.condition}
        onValue={(condition) => set({ condition })}
        autoComplete="off"
      />
      {o.condition.trim() && (
        <SelectField
          id="policy-on-false"
          label="When the condition is false"
          value={o.onFalse}
          onValue={(v) => set({ onFalse: v as OutcomeState['onFalse'] })}
          options={[
            { value: 'refuse', label: 'Deny the call' },
            { value: 'require_approval', label: 'Require approval by someone else' },
          ]}
        />
      )}
      {o.condition.trim() && o.onFalse === 'require_approval' && (
        <fieldset>
          <legend>Approvers</legend>
          <Checks
            items={keys.filter((k) => !k.revokedAt)}
            idOf={(k) => `policy-approver-key-${k.id}`}
            labelOf={(k) => `API key ${k.name}`}
            checked={(k) => o.keyIds.includes(k.id)}
            onToggle={(k, on) => set({ keyIds: toggled(o.keyIds, k.id, on) })}
          />
          <TextField
            id="policy-approver-subjects"
            label="OAuth subjects (comma-separated)"
            value={o.subjects}
            onValue={(subjects) => set({ subjects })}
          />
          <TextField
            id="policy-approver-groups"
            label="OAuth groups (comma-separated)"
            value={o.groups}
            onValue={(groups) => set({ groups })}
          />
          <TextField
            id="policy-approver-people"
            label="People: external users (comma-separated)"
            value={o.people}
            onValue={(people) => set({ people })}
          />
          <TextField
            id="policy-approvals"
            label="Approvals needed"
            type="number"
            min={1}
            required
            value={o.approvals}
            onValue={(approvals) => set({ approvals })}
          />
        </fieldset>
      )}
    </fieldset>
  );
}

function CreatePolicy({
  client,
  keys,
  servers,
  onCreated,
}: {
  client: ManagementClient;
  keys: Key[];
  servers: Server[];
  onCreated: () => void;
}) {
  const [name, setName] = useState('');
  const [principals, setPrincipals] = useState<Principal[]>([{ type: 'api_key', value: '' }]);
  const [allServers, setAllServers] = useState(true);
  const [serverIds, setServerIds] = useState<string[]>([]);
  const [tools, setTools] = useState('*');
  const [outcome, setOutcome] = useState<OutcomeState>(noOutcome);
  const create = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: Schemas['AccessPolicyBody'] = {
      name: name.trim(),
      principals: principals.map((p) => ({ type: p.type, value: p.value.trim() })),
      servers: allServers ? ['*'] : serverIds,
      tools: names(tools),
      ...outcomeBody(outcome),
    };
    create.run(() => unwrap(client.POST('/access_policies', { body })), {
      then: (policy) => {
        setName('');
        setOutcome(noOutcome);
        onCreated();
        return `Created ${policy.name}.`;
      },
    });
  };
  return (
    <Section id="create-policy" title="Create an access policy">
      <form className="form" onSubmit={submit}>
        <TextField id="policy-name" label="Name" required value={name} onValue={setName} autoComplete="off" />
        <Principals principals={principals} keys={keys} onChange={setPrincipals} />
        <Servers
          servers={servers}
          all={allServers}
          onAll={setAllServers}
          serverIds={serverIds}
          onServerIds={setServerIds}
        />
        <TextField
          id="policy-tools"
          label="Which tools (names separated by commas, or * for all)"
          required
          value={tools}
          onValue={setTools}
        />
        <Outcome keys={keys} value={outcome} onChange={setOutcome} />
        <FormEnd action={create} failed="Not created" disabled={!name.trim()} busyLabel="Creating…">
          Create policy
        </FormEnd>
      </form>
      <Success>{create.done}</Success>
    </Section>
  );
}

function PoliciesTable(props: {
  policies: Policy[];
  keys: Key[];
  servers: Server[];
  deleting: string | null;
  onDelete: (id: string) => void;
}) {
  const { keys, servers } = props;
  const keyName = (id: string) => keys.find((k) => k.id === id)?.name ?? id;
  const approversOf = ({ apiKeys = [], subjects = [], groups = [], people = [] }: Approvers) =>
    [
      ...apiKeys.map((k) => `API key ${keyName(k)}`),
      ...subjects.map((x) => `OAuth subject ${x}`),
      ...groups.map((x) => `OAuth group ${x}`),
      ...people.map((x) => `person ${x}`),
    ].join(', ');
  const principal = (p: Principal) => `${typeLabel(p.type)} ${p.type === 'api_key' ? keyName(p.value) : p.value}`;
  const columns: Column<Policy>[] = [
    { header: 'Name', cell: (p) => p.name },
    { header: 'Principals', cell: (p) => p.principals.map(principal).join(', ') },
    {
      header: 'Servers',
      cell: (p) =>
        p.servers.map((id, i) => (
          <span key={id}>
            {i > 0 && ', '}
            {id === '*' ? (
              'every server'
            ) : (
              <Link href={`/servers/${id}`}>{servers.find((s) => s.id === id)?.name ?? id}</Link>
            )}
          </span>
        )),
    },
    { header: 'Tools', cell: (p) => p.tools.join(', ') },
    {
      header: 'Condition',
      cell: (p) =>
        p.condition === null ? (
          'none'
        ) : (
          <>
            <code>{p.condition}</code>
            {p.onFalse === 'require_approval' && p.approval
              ? `; when false: requires approval by ${approversOf(p.approval.approvers)} (${p.approval.approvals} needed)`
              : '; when false: denied'}
            {p.enforce ? '' : ' (log only: refuses nothing, asks no approval)'}
          </>
        ),
    },
  ];
  return (
    <ResourceTable
      rows={props.policies}
      columns={columns}
      caption="Access policies of the workspace"
      empty="No access policy: every API key reaches every server of the workspace."
      actions={(p) => (
        <DeleteButton
          name={p.name}
          then="Edges apply it within a second."
          busy={props.deleting === p.id}
          onConfirm={() => props.onDelete(p.id)}
        />
      )}
    />
  );
}

export function AccessPoliciesPage({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useLoad(
    () =>
      listsOf({
        policies: unwrap(client.GET('/access_policies')),
        keys: unwrap(client.GET('/api_keys')),
        servers: serverList(client),
      }),
    [client],
  );
  const {
    pending: deleting,
    error,
    remove,
  } = useRowDelete((id) => unwrap(client.DELETE('/access_policies/{id}', { params: { path: { id } } })), reload);
  return (
    <>
      <h1>Access policies</h1>
      <p className="hint">
        Allow rules: what no policy grants is denied, except that an API key no policy names keeps access to every
        server of its workspace.
      </p>
      <Show loaded={loaded} what="the access policies">
        {({ policies, keys, servers }) => (
          <>
            <FormAndList
              form={<CreatePolicy client={client} keys={keys} servers={servers} onCreated={reload} />}
              section={{ id: 'policies', title: 'Policies', failed: 'Not deleted' }}
              failure={error}
            >
              <PoliciesTable policies={policies} keys={keys} servers={servers} deleting={deleting} onDelete={remove} />
            </FormAndList>
            {policies.some((p) => !p.enforce) && (
              <WouldBeDecisions client={client} action="access.would_refuse" title="Would-be refusals (last 24 h)" />
            )}
          </>
        )}
      </Show>
    </>
  );
}
