import { type Schemas } from '../../api.ts';
import { FilterForm, FilterSelect, filtersIn } from '../../components/filters.tsx';

const outcomes = ['success', 'tool_error', 'rejected', 'failed', 'unknown'] as const;

/** The text filters of the records list: one value each, applied with the form (not at every keystroke). */
const textFilters = [
  { key: 'tool', label: 'Tool' },
  { key: 'username', label: 'External user' },
  { key: 'subject', label: 'OAuth subject' },
] as const;

/** The filters in the address: server, outcome, key, and the text filters. */
export function filtersOf(query: URLSearchParams) {
  const { choice, texts } = filtersIn(query, { key: 'outcome', allowed: outcomes }, textFilters);
  return { serverId: query.get('server_id') ?? '', keyId: query.get('key_id') ?? '', outcome: choice, texts };
}

type Filters = ReturnType<typeof filtersOf>;

/** The filters form: the selects apply at once, the text filters with the form. */
export function RecordFilters(props: {
  query: URLSearchParams;
  filters: Filters;
  servers: Schemas['McpServerSummary'][];
  keys: Schemas['ApiKey'][];
  onRefresh: () => void;
}) {
  const { query, filters, keys } = props;
  const unknownKey = filters.keyId && !keys.some((k) => k.id === filters.keyId);
  return (
    <FilterForm
      path="/records"
      query={query}
      idPrefix="filter"
      texts={textFilters}
      values={filters.texts}
      selects={(set) => (
        <>
          <FilterSelect
            id="filter-server"
            label="Server"
            value={filters.serverId}
            any="All servers"
            options={props.servers.map((s) => ({ value: s.id, label: s.name }))}
            onValue={(v) => set('server_id', v)}
          />
          <FilterSelect
            id="filter-outcome"
            label="Outcome"
            value={filters.outcome}
            any="Any outcome"
            options={outcomes}
            onValue={(v) => set('outcome', v)}
          />
          <FilterSelect
            id="filter-key"
            label="API key"
            value={filters.keyId}
            any="Any key"
            options={[
              ...(unknownKey ? [{ value: filters.keyId, label: filters.keyId }] : []),
              ...keys.map((k) => ({ value: k.id, label: k.name })),
            ]}
            onValue={(v) => set('key_id', v)}
          />
        </>
      )}
      after={
        <button type="button" className="secondary" onClick={props.onRefresh}>
          Refresh
        </button>
      }
    />
  );
}
