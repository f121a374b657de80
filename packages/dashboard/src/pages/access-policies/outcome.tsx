import { type Schemas } from '../../api.ts';
import { Checks, SelectField, TextField, toggled } from '../../components/form.tsx';

export type Policy = Schemas['AccessPolicy'];

export type Key = Schemas['ApiKey'];

export type Approvers = NonNullable<Policy['approval']>['approvers'];

/** What a false condition does, and who approves the calls it holds (as `approval.approvers` takes them). */
export interface OutcomeState {
  condition: string;
  onFalse: 'refuse' | 'require_approval';
  keyIds: string[];
  subjects: string;
  groups: string;
  people: string;
  approvals: string;
}

export function Outcome({
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
