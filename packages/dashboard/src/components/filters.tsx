import type { FormEvent, ReactNode } from 'react';
import { navigate } from '../router.tsx';
import { filterQuery, SelectField, type Option } from './form.tsx';

/** A text filter of a list: its parameter in the address and its label. */
interface TextFilter<K extends string> {
  key: K;
  label: string;
}

/** The filters in the address: `choice`'s value when it is one of `allowed`, and each text filter's text. */
export function filtersIn<C extends string, K extends string>(
  query: URLSearchParams,
  choice: { key: string; allowed: readonly C[] },
  texts: readonly TextFilter<K>[],
): { choice: C | undefined; texts: Record<K, string> } {
  const value = query.get(choice.key) ?? '';
  return {
    choice: (choice.allowed as readonly string[]).includes(value) ? (value as C) : undefined,
    texts: Object.fromEntries(texts.map((f) => [f.key, query.get(f.key) ?? ''])) as Record<K, string>,
  };
}

/** A filter's select: "{any}" (no filter) first, then `options` (values shown as they are, or options). */
export function FilterSelect({
  id,
  label,
  value,
  any,
  options,
  onValue,
}: {
  id: string;
  label: string;
  value: string | undefined;
  any: string;
  options: readonly (string | Option)[];
  onValue: (v: string) => void;
}) {
  const listed = options.map((o) => (typeof o === 'string' ? { value: o, label: o } : o));
  return (
    <SelectField
      inline
      id={id}
      label={label}
      value={value ?? ''}
      onValue={onValue}
      options={[{ value: '', label: any }, ...listed]}
    />
  );
}

/**
 * A select kept in the address of the page at `path`: a value goes to `{path}?{param}={value}`, the value `none` (the
 * default, `''`) to `path` alone.
 */
export function AddressSelect({
  path,
  param,
  none = '',
  ...select
}: {
  path: string;
  param: string;
  none?: string;
  id: string;
  label: string;
  value: string;
  options: Option[];
}) {
  return (
    <SelectField
      inline
      {...select}
      onValue={(v) => navigate(v === none ? path : `${path}?${param}=${encodeURIComponent(v)}`)}
    />
  );
}

/**
 * A list's filters form (`.filters`), kept in the address of the list at `path`: `selects(set)` apply at once, the
 * text filters (`texts`, their `values`, ids `{idPrefix}-{key}`) with "Apply filters"; `after` ends the form.
 */
export function FilterForm<K extends string>(props: {
  path: string;
  query: URLSearchParams;
  idPrefix: string;
  texts: readonly TextFilter<K>[];
  values: Record<K, string>;
  selects: (set: (key: string, value: string) => void) => ReactNode;
  after?: ReactNode;
}) {
  const { query, idPrefix } = props;
  const go = (next: URLSearchParams) => navigate(`${props.path}${next.size > 0 ? `?${next.toString()}` : ''}`);
  const apply = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    go(
      filterQuery(
        query,
        props.texts.map((f) => f.key),
        e.currentTarget,
      ),
    );
  };
  return (
    <form className="filters" onSubmit={apply} key={query.toString()}>
      {props.selects((key, value) => go(filterQuery(query, [key], value)))}
      {props.texts.map((f) => (
        <div className="field" key={f.key}>
          <label htmlFor={`${idPrefix}-${f.key}`}>{f.label}</label>
          <input id={`${idPrefix}-${f.key}`} name={f.key} defaultValue={props.values[f.key]} autoComplete="off" />
        </div>
      ))}
      <button type="submit">Apply filters</button>
      {props.after}
    </form>
  );
}
