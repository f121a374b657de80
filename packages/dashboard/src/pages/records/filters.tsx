import type { FormEvent } from 'react';
import { type Schemas } from '../../api.ts';
import { filterQuery, SelectField } from '../../components/form.tsx';
import { navigate } from '../../router.tsx';

const outcomes = ['success', 'tool_error', 'rejected', 'failed', 'unknown'] as const;

type Outcome = (typeof outcomes)[number];

/** The text filters of the records list: one value each, applied with the form (not at every keystroke). */
const textFilters = [
  { key: 'tool', label: 'Tool' },
  { key: 'username', label: 'External user' },
  { key: 'subject', label: 'OAuth subject' },
] as const;

type TextKey = (typeof textFilters)[number]['key'];

/** The filters in the address: server, outcome, key, and the text filters. */
export function filtersOf(query: URLSearchParams) {
  const outcomeParam = query.get('outcome') ?? '';
  return {
    serverId: query.get('server_id') ?? '',
    keyId: query.get('key_id') ?? '',
    outcome: (outcomes as readonly string[]).includes(outcomeParam) ? (outcomeParam as Outcome) : undefined,
    texts: Object.fromEntries(textFilters.map((f) => [f.key, query.get(f.key) ?? ''])) as Record<TextKey, string>,
  };
}

type Filters = ReturnType<typeof filtersOf>;

/** The filters form: the selects apply at once, the text filters with the form. */
export function FilterForm(props: {
  query: URLSearchParams;
  filters: Filters;
  servers: Schemas['McpServerSummary'][];
  keys: Schemas['ApiKey'][];
  onRefresh: () => void;
}) {
  const { query, filters, keys } = props;
  const go = (next: URLSearchParams) => {
    const qs = next.toString();
    navigate(`/records${qs ? `?${qs}` : ''}`);
  };
  const setFilter = (key: string, value: string) => go(filterQuery(query, [key], value));
  const applyTexts = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    go(
      filterQuery(
        query,
        textFilters.map((f) => f.key),
        e.currentTarget,
      ),
    );
  };
  const unknownKey = filters.keyId && !keys.some((k) => k.id === filters.keyId);
  return (
    <form className="filters" onSubmit={applyTexts} key={query.toString()}>
      <SelectField
        inline
        id="filter-server"
        label="Server"
        value={filters.serverId}
        onValue={(v) => setFilter('server_id', v)}
        options={[{ value: '', label: 'All servers' }, ...props.servers.map((s) => ({ value: s.id, label: s.name }))]}
      />
      <SelectField
        inline
        id="filter-outcome"
        label="Outcome"
        value={filters.outcome ?? ''}
        onValue={(v) => setFilter('outcome', v)}
        options={[{ value: '', label: 'Any outcome' }, ...outcomes.map((o) => ({ value: o, label: o }))]}
      />
      <SelectField
        inline
        id="filter-key"
        label="API key"
        value={filters.keyId}
        onValue={(v) => setFilter('key_id', v)}
        options={[
          { value: '', label: 'Any key' },
          ...(unknownKey ? [{ value: filters.keyId, label: filters.keyId }] : []),
          ...keys.map((k) => ({ value: k.id, label: k.name })),
        ]}
      />
      {textFilters.map((f) => (
        <div className="field" key={f.key}>
          <label htmlFor={`filter-${f.key}`}>{f.label}</label>
          <input id={`filter-${f.key}`} name={f.key} defaultValue={filters.texts[f.key]} autoComplete="off" />
        </div>
      ))}
      <button type="submit">Apply filters</button>
      <button type="button" className="secondary" onClick={props.onRefresh}>
        Refresh
      </button>
    </form>
  );
}
