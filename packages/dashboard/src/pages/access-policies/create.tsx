import { useState, type FormEvent } from 'react';
import { unwrap, type Schemas } from '../../api.ts';
import { useAction } from '../../components/action.ts';
import { CheckField, Checks, SelectField, TextField, NameField, toggled, FormEnd } from '../../components/form.tsx';
import { FormSection } from '../../components/section.tsx';
import { BacktestButton } from '../../components/backtest-button.tsx';
import { namesOf, policyFile } from '../../rule-files.ts';
import { Outcome, type Approvers, type Key, type OutcomeState } from './outcome.tsx';
import type { CreateFormProps } from '../../components/list-page.tsx';

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

export type Principal = Schemas['AccessPolicyBody']['principals'][number];

export type Server = Schemas['McpServerSummary'];

/** A comma-separated list as the API takes it: its trimmed names, or nothing. */
const names = (text: string) =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

export const principalTypes: { type: Principal['type']; label: string }[] = [
  { type: 'api_key', label: 'API key' },
  { type: 'oauth_subject', label: 'OAuth subject' },
  { type: 'oauth_group', label: 'OAuth group' },
  { type: 'external_user', label: 'External user' },
  { type: 'external_group', label: 'SCIM group' },
];

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
/** The servers a policy covers: every one (`*`), or those in `ids`. */
interface ServerScope {
  all: boolean;
  ids: string[];
}

function Servers({
  servers,
  value,
  onValue,
}: {
  servers: Server[];
  value: ServerScope;
  onValue: (scope: ServerScope) => void;
}) {
  return (
    <fieldset>
      <legend>Which servers</legend>
      <Checks
        items={value.all ? [] : servers}
        idOf={(s) => `policy-server-${s.id}`}
        labelOf={(s) => s.name}
        checked={(s) => value.ids.includes(s.id)}
        onToggle={(s, on) => onValue({ ...value, ids: toggled(value.ids, s.id, on) })}
      >
        <CheckField
          id="policy-all-servers"
          label="Every server (*)"
          checked={value.all}
          onValue={(all) => onValue({ ...value, all })}
        />
      </Checks>
    </fieldset>
  );
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

export function CreatePolicy({
  client,
  keys,
  servers,
  onCreated,
}: CreateFormProps & { keys: Key[]; servers: Server[] }) {
  const [name, setName] = useState('');
  const [principals, setPrincipals] = useState<Principal[]>([{ type: 'api_key', value: '' }]);
  const [serverScope, setServerScope] = useState<ServerScope>({ all: true, ids: [] });
  const [tools, setTools] = useState('*');
  const [outcome, setOutcome] = useState<OutcomeState>(noOutcome);
  const create = useAction();
  const body: Schemas['AccessPolicyBody'] = {
    name: name.trim(),
    principals: principals.map((p) => ({ type: p.type, value: p.value.trim() })),
    servers: serverScope.all ? ['*'] : serverScope.ids,
    tools: names(tools),
    ...outcomeBody(outcome),
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
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
    <FormSection id="create-policy" title="Create an access policy" onSubmit={submit} done={create.done}>
      <NameField id="policy-name" value={name} onValue={setName} />
      <Principals principals={principals} keys={keys} onChange={setPrincipals} />
      <Servers servers={servers} value={serverScope} onValue={setServerScope} />
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
      <BacktestButton
        client={client}
        documents={body.name ? [policyFile(body, namesOf({ servers, apiKeys: keys }))] : []}
      />
    </FormSection>
  );
}
