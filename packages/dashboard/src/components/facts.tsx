import { Fragment, type ReactNode } from 'react';

/** One fact of a `Facts` panel: its name and its value; a falsy entry is left out. */
export type Fact = readonly [ReactNode, ReactNode] | false | null | undefined | '';

/** A detail panel of key-value facts (`<dl class="facts">`: a `<dt>` and a `<dd>` each). */
export function Facts({ facts }: { facts: readonly Fact[] }) {
  return (
    <dl className="facts">
      {facts.map(
        (f, i) =>
          f && (
            <Fragment key={i}>
              <dt>{f[0]}</dt>
              <dd>{f[1]}</dd>
            </Fragment>
          ),
      )}
    </dl>
  );
}
