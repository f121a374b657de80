import type { ReactNode } from 'react';
import { useMayChange } from '../powers.tsx';
import { Empty, Show, type Loaded } from '../ui.tsx';

/** One column of a `ResourceTable`: its heading, and the cell of each row. */
export interface Column<T> {
  header: string;
  cell: (row: T, index: number) => ReactNode;
  /** The cell names its row (`<th scope="row">`): screen readers announce it along the row. */
  rowHeader?: boolean;
  className?: string;
}

interface TableProps<T> {
  columns: Column<T>[];
  /** The row's React key: required unless rows have an `id` (the default). */
  rowKey?: (row: T, index: number) => string;
  /** The table's name as a caption, read by screen readers only (unless `showCaption`)… */
  caption?: ReactNode;
  showCaption?: boolean;
  /** …and/or as its `aria-label`. */
  label?: string;
  /** Said (as an empty state) instead of a table without rows; without it, an empty table shows its headings. */
  empty?: ReactNode;
  /**
   * The row's actions (buttons that change it), in a last column "Actions": left out for a caller who may only read
   * the area the table is in (`powers.tsx`).
   */
  actions?: (row: T) => ReactNode;
  /** `data-*` attributes of a row: `{ state: 'active' }` → `data-state="active"`. */
  rowData?: (row: T) => Record<string, string | number>;
}

/** The rows, given (`rows`), or being loaded (`loaded`: "Loading {what}…", then the rows or the error). */
export type ResourceTableProps<T> = TableProps<T> &
  (T extends { id: string } ? unknown : { rowKey: (row: T, index: number) => string }) &
  ({ rows: readonly T[] } | { loaded: Loaded<readonly T[]>; what: string });

const idOf = (row: unknown) => (row as { id: string }).id;

/**
 * The dashboard's table of resources (servers, keys, records…): headings, a row per resource, an empty state,
 * loading and error states, row actions. Every list of the dashboard is one.
 */
export function ResourceTable<T>(props: ResourceTableProps<T>) {
  if ('loaded' in props)
    return (
      <Show loaded={props.loaded} what={props.what}>
        {(rows) => <Table {...props} rows={rows} />}
      </Show>
    );
  return <Table {...props} />;
}

function Table<T>({
  rows,
  columns,
  caption,
  showCaption,
  label,
  empty,
  actions: rowActions,
  ...rest
}: TableProps<T> & { rows: readonly T[] }) {
  const actions = useMayChange() ? rowActions : undefined;
  if (rows.length === 0 && empty !== undefined) return <Empty>{empty}</Empty>;
  return (
    <table aria-label={label}>
      {caption !== undefined && <caption className={showCaption ? undefined : 'visually-hidden'}>{caption}</caption>}
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c.header} scope="col">
              {c.header}
            </th>
          ))}
          {actions && <th scope="col">Actions</th>}
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => (
          <Row
            key={rest.rowKey ? rest.rowKey(row, i) : idOf(row)}
            row={row}
            index={i}
            columns={columns}
            actions={actions}
            rowData={rest.rowData}
          />
        ))}
      </tbody>
    </table>
  );
}

function Row<T>({
  row,
  index,
  columns,
  actions,
  rowData,
}: { row: T; index: number } & Pick<TableProps<T>, 'columns' | 'actions' | 'rowData'>) {
  const data = Object.fromEntries(Object.entries(rowData?.(row) ?? {}).map(([k, v]) => [`data-${k}`, v]));
  return (
    <tr {...data}>
      {columns.map((c) =>
        c.rowHeader ? (
          <th key={c.header} scope="row" className={c.className}>
            {c.cell(row, index)}
          </th>
        ) : (
          <td key={c.header} className={c.className}>
            {c.cell(row, index)}
          </td>
        ),
      )}
      {actions && <td>{actions(row)}</td>}
    </tr>
  );
}
